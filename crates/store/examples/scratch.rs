use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::prelude::*;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let ctx = SessionContext::new();
    ctx.register_parquet("raw", &format!("{dir}/data/"), ParquetReadOptions::default()).await.unwrap();
    for sql in std::env::args().skip(2) {
        for _ in 0..3 {
            let t = Instant::now();
            let r = ctx.sql(&sql).await.unwrap().collect().await;
            let n: usize = r.as_ref().map(|b| b.iter().map(|b| b.num_rows()).sum()).unwrap_or(0);
            println!("{:>8.1} ms rows={n} {}", t.elapsed().as_secs_f64() * 1000.0, &sql[..sql.len().min(90)]);
        }
    }
    // Raw reader: policies_enforced as List<Dictionary<Int32, Utf8>>.
    let files: Vec<_> = std::fs::read_dir(format!("{dir}/data")).unwrap().map(|e| e.unwrap().path()).collect();
    for dict in [false, true] {
        let t = Instant::now();
        let mut entries = 0usize;
        let mut sum = 0u64;
        for path in &files {
            let file = std::fs::File::open(path).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let schema = builder.schema().clone();
            let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            if dict {
                for f in fields.iter_mut() {
                    if f.name() == "policies_enforced" || f.name() == "policies_pending" {
                        *f = Field::new(f.name(), DataType::List(Arc::new(Field::new_list_field(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true))), false);
                    }
                }
            }
            let file = std::fs::File::open(path).unwrap();
            let opts = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
            let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, opts).unwrap();
            let pe = schema.index_of("policies_enforced").unwrap();
            let nf = schema.index_of("num_flows").unwrap();
            let mask = ProjectionMask::roots(builder.parquet_schema(), [pe, nf]);
            let reader = builder.with_projection(mask).with_batch_size(8192).build().unwrap();
            for b in reader {
                let b = b.unwrap();
                let list = b.column(0).as_list::<i32>();
                entries += list.values().len();
                if dict {
                    let d = list.values().as_dictionary::<Int32Type>();
                    sum += d.keys().values().iter().map(|k| *k as u64).sum::<u64>();
                }
            }
        }
        println!("raw reader dict={dict}: {:.1} ms entries={entries} {sum}", t.elapsed().as_secs_f64() * 1000.0);
    }
}
