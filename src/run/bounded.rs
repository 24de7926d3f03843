//! A text buffer with a byte budget: a flooding guest must not exhaust host
//! memory. It keeps the head and the tail, and says how much of the middle
//! it dropped.

/// Lines kept within `budget` bytes: the first half of the budget for the
/// head, the rest for a rolling tail.
#[derive(Debug, Clone)]
pub struct BoundedLog {
    budget: usize,
    head: Vec<String>,
    head_bytes: usize,
    tail: std::collections::VecDeque<String>,
    tail_bytes: usize,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl BoundedLog {
    pub fn new(budget: usize) -> BoundedLog {
        BoundedLog {
            budget,
            head: Vec::new(),
            head_bytes: 0,
            tail: Default::default(),
            tail_bytes: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    pub fn push(&mut self, line: String) {
        let len = line.len() + 1;
        if self.dropped_lines == 0
            && self.tail.is_empty()
            && self.head_bytes + len <= self.budget / 2
        {
            self.head_bytes += len;
            self.head.push(line);
            return;
        }
        self.tail_bytes += len;
        self.tail.push_back(line);
        while self.tail_bytes > self.budget - self.budget / 2 {
            match self.tail.pop_front() {
                Some(old) => {
                    self.tail_bytes -= old.len() + 1;
                    self.dropped_lines += 1;
                    self.dropped_bytes += old.len() as u64 + 1;
                }
                None => break,
            }
        }
    }

    /// Lines dropped from the middle so far.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped_lines, self.dropped_bytes)
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    /// Every kept line, with a marker where lines were dropped.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        let marker = (self.dropped_lines > 0)
            .then_some("[scxray: lines dropped here, see the report notes]");
        self.head
            .iter()
            .map(String::as_str)
            .chain(marker)
            .chain(self.tail.iter().map(String::as_str))
    }

    /// The kept text, lines joined by `\n`.
    pub fn text(&self) -> String {
        self.lines().collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_within_budget() {
        let mut b = BoundedLog::new(100);
        for i in 0..1000 {
            b.push(format!("line {i:04}"));
        }
        let text = b.text();
        assert!(text.starts_with("line 0000"));
        assert!(text.ends_with("line 0999"));
        assert!(text.len() < 200, "{}", text.len());
        assert!(b.dropped().0 > 900);
    }

    #[test]
    fn small_logs_are_whole() {
        let mut b = BoundedLog::new(1 << 20);
        b.push("a".into());
        b.push("b".into());
        assert_eq!(b.text(), "a\nb");
        assert_eq!(b.dropped(), (0, 0));
    }
}
