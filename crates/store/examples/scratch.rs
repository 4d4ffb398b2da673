use flowlens_store::*;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let what = std::env::args().nth(2).unwrap();
    let secs: i64 = std::env::args().nth(3).unwrap().parse().unwrap();
    let runs: usize = std::env::args()
        .nth(4)
        .unwrap_or("10".into())
        .parse()
        .unwrap();
    let store = EmbeddedStore::open(&dir, EmbeddedOptions::default()).unwrap();
    let (_, max) = store.time_bounds().await.unwrap().unwrap();
    let q = FlowQuery::new(TimeRange::new(max + 1 - secs, max + 1));
    for _ in 0..runs {
        let t = Instant::now();
        let n = match what.as_str() {
            "flows" => store.query_flows(&q).await.unwrap().total as usize,
            "ns" => store
                .aggregate(&q, GroupBy::NamespacePair)
                .await
                .unwrap()
                .len(),
            "name" => store.aggregate(&q, GroupBy::NamePair).await.unwrap().len(),
            "policy" => store.aggregate(&q, GroupBy::Policy).await.unwrap().len(),
            _ => panic!(),
        };
        println!("{:>8.1} ms {n}", t.elapsed().as_secs_f64() * 1000.0);
    }
}
