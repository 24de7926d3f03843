//! The bounded queue between the port reader threads and the thread that
//! runs the guest. Bounded in bytes, not items: a guest flooding a port
//! makes the readers drop (and count) rather than grow host memory, and
//! never blocks QEMU's writes to us. Bulk items (scheduler, trace and
//! kernel log lines, plain console lines) fill the queue up to its bound;
//! the few that steer the run (hello, stages, exits, done, oops and panic
//! lines) may use up to twice that, so a flood cannot crowd them out.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use scxray::run::record::{DecodeStats, Record};

use crate::backend::DropStats;

/// Default bound of queued bytes.
pub const DEFAULT_CAP: usize = 8 << 20;
/// Bookkeeping cost charged per item on top of its text.
const ITEM_OVERHEAD: usize = 64;

/// What the reader threads report.
#[derive(Debug)]
pub enum Incoming {
    Console(String),
    Record(Record),
    /// A line of QEMU's own stderr.
    Stderr(String),
    /// A port reached end of stream; the record port sends its decoder's
    /// final counters.
    ConsoleEnd,
    RecordEnd(DecodeStats),
    StderrEnd,
}

impl Incoming {
    fn steers(&self) -> bool {
        match self {
            Incoming::Console(line) => super::console::trouble(line).is_some(),
            Incoming::Record(r) => !matches!(
                r,
                Record::SchedLine { .. }
                    | Record::Trace { .. }
                    | Record::Kmsg { .. }
                    | Record::Stats { .. }
            ),
            _ => false,
        }
    }

    fn cost(&self) -> usize {
        ITEM_OVERHEAD
            + match self {
                Incoming::Console(s) | Incoming::Stderr(s) => s.len(),
                Incoming::Record(r) => json_len(r),
                _ => 0,
            }
    }
}

fn json_len(r: &Record) -> usize {
    struct Count(usize);
    impl Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing into a counter cannot fail for these plain types.
    let _ = serde_json::to_writer(&mut c, r);
    c.0
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<(Incoming, usize)>,
    bytes: usize,
    dropped: DropStats,
}

/// A byte-bounded multi-producer queue.
#[derive(Debug)]
pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    cap: usize,
}

impl Queue {
    pub fn new(cap: usize) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            cap,
        }
    }

    /// Queues `item`, or drops and counts it when the queue is full. End
    /// markers are never dropped.
    pub fn push(&self, item: Incoming) {
        let cost = item.cost();
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let is_end = matches!(
            item,
            Incoming::ConsoleEnd | Incoming::RecordEnd(_) | Incoming::StderrEnd
        );
        let limit = if item.steers() {
            self.cap.saturating_mul(2)
        } else {
            self.cap
        };
        if !is_end && st.bytes + cost > limit {
            st.dropped.bytes += (cost - ITEM_OVERHEAD) as u64;
            match item {
                Incoming::Console(_) => st.dropped.console_lines += 1,
                Incoming::Record(_) => st.dropped.records += 1,
                _ => {}
            }
            return;
        }
        st.bytes += cost;
        st.items.push_back((item, cost));
        drop(st);
        self.ready.notify_one();
    }

    /// The oldest item, waiting up to `timeout` for one.
    pub fn pop(&self, timeout: Duration) -> Option<Incoming> {
        let st = self.state.lock().ok()?;
        let (mut st, _) = self
            .ready
            .wait_timeout_while(st, timeout, |s| s.items.is_empty())
            .ok()?;
        let (item, cost) = st.items.pop_front()?;
        st.bytes -= cost;
        Some(item)
    }

    pub fn dropped(&self) -> DropStats {
        self.state.lock().map(|s| s.dropped).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drops_and_counts_beyond_the_cap() {
        let q = Queue::new(1000);
        for _ in 0..100 {
            q.push(Incoming::Console("x".repeat(100)));
        }
        q.push(Incoming::ConsoleEnd);
        let mut got = 0;
        let mut ended = false;
        while let Some(i) = q.pop(Duration::ZERO) {
            match i {
                Incoming::Console(_) => got += 1,
                Incoming::ConsoleEnd => ended = true,
                _ => unreachable!(),
            }
        }
        assert!(ended);
        assert_eq!(got, 1000 / (100 + ITEM_OVERHEAD));
        let d = q.dropped();
        assert_eq!(d.console_lines, 100 - got as u64);
        assert_eq!(d.bytes, d.console_lines * 100);
    }

    #[test]
    fn a_flood_does_not_crowd_out_what_steers_the_run() {
        let q = Queue::new(1000);
        for _ in 0..100 {
            q.push(Incoming::Record(Record::Trace {
                line: "t".repeat(100),
            }));
        }
        q.push(Incoming::Record(Record::Done {
            passed: false,
            uptime_ms: 1,
        }));
        q.push(Incoming::Console(
            "[ 1.0] Kernel panic - not syncing: x".into(),
        ));
        q.push(Incoming::Console("plain".into()));
        let mut kept = Vec::new();
        while let Some(i) = q.pop(Duration::ZERO) {
            kept.push(i);
        }
        assert!(kept
            .iter()
            .any(|i| matches!(i, Incoming::Record(Record::Done { .. }))));
        assert!(kept
            .iter()
            .any(|i| matches!(i, Incoming::Console(l) if l.contains("panic"))));
        assert!(!kept
            .iter()
            .any(|i| matches!(i, Incoming::Console(l) if l == "plain")));
        assert_eq!(q.dropped().console_lines, 1);
    }

    #[test]
    fn space_is_given_back_on_pop() {
        let q = Queue::new(200);
        for _ in 0..10 {
            q.push(Incoming::Stderr("y".repeat(50)));
            assert!(matches!(q.pop(Duration::ZERO), Some(Incoming::Stderr(_))));
        }
        assert_eq!(q.dropped(), DropStats::default());
    }

    #[test]
    fn pop_waits_for_a_producer() {
        let q = Arc::new(Queue::new(DEFAULT_CAP));
        let q2 = Arc::clone(&q);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            q2.push(Incoming::Record(Record::Error {
                message: "m".into(),
            }));
        });
        assert!(matches!(
            q.pop(Duration::from_secs(5)),
            Some(Incoming::Record(_))
        ));
        t.join().unwrap();
        assert!(q.pop(Duration::from_millis(10)).is_none());
    }
}
