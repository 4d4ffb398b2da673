//! `flowlens sql`: SQL over the stored flow logs.

use crate::cli::{SqlArgs, TableFormat};
use anyhow::Result;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;
use std::process::ExitCode;

pub fn run(args: SqlArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let opened = rt.block_on(super::open_any(&args.data))?;
    if let super::OpenedStore::ClickHouse(store) = &opened {
        return clickhouse_sql(&rt, store, &args);
    }
    let batches = rt.block_on(opened.as_store().sql(&args.query));
    rt.block_on(opened.close())?;
    let (header, rows) = cells(&batches?)?;
    match args.output {
        TableFormat::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY)
                .set_header(header.iter().map(|(n, _)| n.clone()));
            for r in &rows {
                t.add_row(r.iter().map(|c| c.clone().unwrap_or_else(|| "NULL".into())));
            }
            println!("{t}");
            eprintln!("{} rows", rows.len());
        }
        TableFormat::Csv => {
            println!(
                "{}",
                header
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for r in &rows {
                let line: Vec<String> = r
                    .iter()
                    .map(|c| {
                        let c = c.clone().unwrap_or_default();
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c
                        }
                    })
                    .collect();
                println!("{}", line.join(","));
            }
        }
        TableFormat::Json | TableFormat::Jsonl => {
            let objects: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let map = header
                        .iter()
                        .zip(r)
                        .map(|((name, numeric), cell)| {
                            let v = match cell {
                                None => Value::Null,
                                Some(c) if *numeric => c
                                    .parse::<f64>()
                                    .ok()
                                    .and_then(|f| {
                                        serde_json::Number::from_f64(f).map(Value::Number)
                                    })
                                    .unwrap_or(Value::String(c.clone())),
                                Some(c) => Value::String(c.clone()),
                            };
                            (name.clone(), v)
                        })
                        .collect::<serde_json::Map<_, _>>();
                    Value::Object(map)
                })
                .collect();
            if args.output == TableFormat::Json {
                println!("{}", serde_json::to_string_pretty(&objects)?);
            } else {
                for o in objects {
                    println!("{o}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The query in ClickHouse's own SQL, read-only, its output in ClickHouse's format closest
/// to the one asked for (JSON: the rows as an array of objects, as for a data directory).
fn clickhouse_sql(
    rt: &tokio::runtime::Runtime,
    store: &flowlens_store_clickhouse::ClickHouseStore,
    args: &SqlArgs,
) -> Result<ExitCode> {
    use std::io::Write;
    let format = match args.output {
        TableFormat::Table => "PrettyCompactMonoBlock",
        TableFormat::Csv => "CSVWithNames",
        TableFormat::Json | TableFormat::Jsonl => "JSONEachRow",
    };
    let out = rt.block_on(store.query_text(&args.query, format))?;
    if args.output == TableFormat::Json {
        let rows = String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<Value>, _>>()?;
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        std::io::stdout().write_all(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

type Header = Vec<(String, bool)>;

/// Column names (with whether they are numeric) and every cell as text (`None` for null).
fn cells(batches: &[RecordBatch]) -> Result<(Header, Vec<Vec<Option<String>>>)> {
    let Some(first) = batches.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let header = first
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().is_numeric()))
        .collect();
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(col, f)| {
                        if col.is_null(row) {
                            None
                        } else {
                            Some(f.value(row).to_string())
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok((header, rows))
}
