//! The loop both stores' background upkeep runs in (the embedded store's maintenance,
//! ClickHouse's retention).

use std::future::Future;
use std::time::Duration;

/// Runs `pass` with the Unix time in seconds every `every` (at least a second; the first pass
/// right away; a slow pass delays the next rather than bunching them) until the returned
/// task is aborted. Needs a Tokio runtime.
pub fn spawn_periodic<F, Fut>(every: Duration, mut pass: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            pass(now).await;
        }
    })
}
