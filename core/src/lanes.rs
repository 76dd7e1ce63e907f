//! The worker's fair share of HTTP threads. Claimed calls wait in a lane per
//! destination (a webhook endpoint, a resolver URL); free threads go to the
//! lanes in turn, at most `cap` running per lane. So a destination that hangs
//! holds only its own lane's threads, and everyone else's calls keep flowing.
//! Pure bookkeeping: the worker owns the threads and the clock.

use std::collections::{HashMap, VecDeque};

pub struct Lanes<J> {
    lanes: HashMap<String, Lane<J>>,
    /// Lane names in the order they take free threads (rotated as they do).
    turn: VecDeque<String>,
    running: usize,
    threads: usize,
    cap: usize,
    per_thread: usize,
}

struct Lane<J> {
    waiting: VecDeque<J>,
    running: usize,
}

impl<J> Lanes<J> {
    /// `threads` in all, at most `cap` running per lane, and at most
    /// `per_thread` calls held (waiting or running) per thread, in all and
    /// per lane (per lane: `cap × per_thread`). The bound on held calls is
    /// what keeps a claimed call from waiting longer than its lease.
    pub fn new(threads: usize, cap: usize, per_thread: usize) -> Lanes<J> {
        let mut l = Lanes { lanes: HashMap::new(), turn: VecDeque::new(), running: 0, threads: 0, cap: 0, per_thread: per_thread.max(1) };
        l.resize(threads, cap);
        l
    }

    /// New settings; calls already running stay counted until they finish.
    pub fn resize(&mut self, threads: usize, cap: usize) {
        self.threads = threads.max(1);
        self.cap = cap.clamp(1, self.threads);
    }

    /// Calls one lane may hold, running or waiting.
    pub fn lane_limit(&self) -> usize {
        self.cap * self.per_thread
    }

    /// How many more calls may be claimed now.
    pub fn room(&self) -> usize {
        (self.threads * self.per_thread).saturating_sub(self.lanes.values().map(|l| l.waiting.len() + l.running).sum())
    }

    /// Claimed calls waiting for a thread.
    pub fn waiting(&self) -> usize {
        self.lanes.values().map(|l| l.waiting.len()).sum()
    }

    /// Each lane with how many calls it holds.
    pub fn held(&self) -> impl Iterator<Item = (&str, usize)> {
        self.lanes.iter().map(|(k, l)| (k.as_str(), l.waiting.len() + l.running))
    }

    pub fn add(&mut self, lane: &str, job: J) {
        if !self.lanes.contains_key(lane) {
            self.turn.push_back(lane.to_string());
        }
        self.lanes.entry(lane.to_string()).or_insert_with(|| Lane { waiting: VecDeque::new(), running: 0 }).waiting.push_back(job);
    }

    /// The next call to start on a free thread, from the next lane in turn
    /// that is under its cap; `None` when no thread is free or every lane
    /// with waiting calls is at its cap.
    pub fn next(&mut self) -> Option<J> {
        if self.running >= self.threads {
            return None;
        }
        for _ in 0..self.turn.len() {
            let name = self.turn.pop_front()?;
            self.turn.push_back(name.clone());
            let lane = self.lanes.get_mut(&name)?;
            if lane.running < self.cap {
                if let Some(job) = lane.waiting.pop_front() {
                    lane.running += 1;
                    self.running += 1;
                    return Some(job);
                }
            }
        }
        None
    }

    /// A call of `lane` finished: its thread is free again.
    pub fn finished(&mut self, lane: &str) {
        self.running = self.running.saturating_sub(1);
        if let Some(l) = self.lanes.get_mut(lane) {
            l.running = l.running.saturating_sub(1);
            if l.running == 0 && l.waiting.is_empty() {
                self.lanes.remove(lane);
                self.turn.retain(|k| k != lane);
            }
        }
    }

    pub fn running(&self) -> usize {
        self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_all<J>(l: &mut Lanes<J>) -> Vec<J> {
        std::iter::from_fn(|| l.next()).collect()
    }

    #[test]
    fn one_lane_gets_at_most_its_cap_of_the_threads() {
        let mut l = Lanes::new(16, 8, 4);
        for i in 0..20 {
            l.add("slow", i);
        }
        assert_eq!(start_all(&mut l), (0..8).collect::<Vec<_>>());
        l.add("other", 100);
        assert_eq!(start_all(&mut l), vec![100], "a thread is left for another lane");
        l.finished("slow");
        assert_eq!(l.next(), Some(8), "a finished call lets the lane start its next");
    }

    #[test]
    fn lanes_take_free_threads_in_turn() {
        let mut l = Lanes::new(4, 4, 4);
        for i in 0..3 {
            l.add("a", i);
            l.add("b", 10 + i);
        }
        assert_eq!(start_all(&mut l), vec![0, 10, 1, 11]);
        assert_eq!(l.next(), None, "every thread is busy");
        l.finished("b");
        assert_eq!(l.next(), Some(2));
    }

    #[test]
    fn held_calls_are_bounded_in_all_and_per_lane() {
        let mut l = Lanes::new(2, 1, 4);
        assert_eq!((l.room(), l.lane_limit()), (8, 4));
        for i in 0..4 {
            l.add("a", i);
        }
        assert_eq!(l.room(), 4);
        assert_eq!(start_all(&mut l), vec![0], "cap 1: one running, three waiting");
        assert_eq!((l.waiting(), l.running()), (3, 1));
        assert_eq!(l.held().collect::<Vec<_>>(), vec![("a", 4)]);
    }

    #[test]
    fn a_lane_is_forgotten_once_it_holds_nothing() {
        let mut l = Lanes::new(2, 2, 4);
        l.add("a", 1);
        assert_eq!(l.next(), Some(1));
        l.finished("a");
        assert_eq!(l.held().count(), 0);
        assert_eq!((l.room(), l.running()), (8, 0));
        assert_eq!(l.next(), None);
    }

    #[test]
    fn resize_applies_to_calls_started_afterwards() {
        let mut l = Lanes::new(4, 4, 4);
        for i in 0..4 {
            l.add("a", i);
        }
        assert_eq!(start_all(&mut l).len(), 4);
        l.resize(2, 8);
        assert_eq!(l.lane_limit(), 8, "cap clamped to the threads");
        l.add("a", 9);
        l.finished("a");
        assert_eq!(l.next(), None, "still 3 running on 2 threads");
        l.finished("a");
        l.finished("a");
        assert_eq!(l.next(), Some(9));
    }
}
