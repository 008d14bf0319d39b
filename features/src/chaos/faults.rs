//! The seeded fault schedule and its execution on a [`Stack`]: one fault at a time, every few
//! seconds, each undone before the next; everything restored after the last.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::stack::Stack;

/// Faults start this far into the load and stop this far before its end.
const FIRST_FAULT: Duration = Duration::from_secs(3);
const QUIET_END: Duration = Duration::from_secs(5);
/// Gap between two faults, in milliseconds.
const GAP_MS: std::ops::RangeInclusive<u64> = 2_500..=5_000;
/// Bound on the number of faults of one run.
const MAX_FAULTS: usize = 500;

/// One fault and its parameters.
#[derive(Clone, Debug)]
pub enum Fault {
    /// SIGKILL worker `worker`, start a replacement with the same id after `down`.
    KillWorker { worker: usize, down: Duration },
    /// SIGSTOP worker `worker` for `paused` (longer than the lease TTL), then SIGCONT.
    PauseWorker { worker: usize, paused: Duration },
    /// SIGTERM worker `worker`, wait for its exit, start it again after `down`.
    TermWorker { worker: usize, down: Duration },
    /// SIGKILL `redis-server`, start it again (AOF) after `down`.
    KillRedis { down: Duration },
    /// SIGSTOP `redis-server` for `paused`, then SIGCONT.
    PauseRedis { paused: Duration },
}

impl Fault {
    /// The kind, for the summary.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::KillWorker { .. } => "kill_worker",
            Fault::PauseWorker { .. } => "pause_worker",
            Fault::TermWorker { .. } => "sigterm_worker",
            Fault::KillRedis { .. } => "kill_redis",
            Fault::PauseRedis { .. } => "pause_redis",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::KillWorker { worker, down } => {
                write!(f, "SIGKILL w{} (restarted after {down:?})", worker + 1)
            }
            Fault::PauseWorker { worker, paused } => {
                write!(f, "SIGSTOP w{} for {paused:?}", worker + 1)
            }
            Fault::TermWorker { worker, down } => {
                write!(f, "SIGTERM w{} (restarted after {down:?})", worker + 1)
            }
            Fault::KillRedis { down } => write!(f, "SIGKILL redis (restarted after {down:?})"),
            Fault::PauseRedis { paused } => write!(f, "SIGSTOP redis for {paused:?}"),
        }
    }
}

/// A fault and when it is due, from the start of the load.
#[derive(Clone, Debug)]
pub struct Planned {
    pub at: Duration,
    pub fault: Fault,
}

/// The fault schedule of `seed` for a load of `load`.
pub fn schedule(seed: u64, workers: usize, load: Duration) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xFA17_5EED_0000_0001);
    let mut plan = Vec::new();
    let mut at = FIRST_FAULT;
    while at + QUIET_END <= load && plan.len() < MAX_FAULTS {
        plan.push(Planned {
            at,
            fault: draw(&mut rng, workers),
        });
        at += Duration::from_millis(rng.random_range(GAP_MS));
    }
    plan
}

fn draw(rng: &mut StdRng, workers: usize) -> Fault {
    let worker = rng.random_range(0..workers.max(1));
    let ms = |rng: &mut StdRng, range: std::ops::RangeInclusive<u64>| {
        Duration::from_millis(rng.random_range(range))
    };
    match rng.random_range(0..10) {
        0..=2 => Fault::KillWorker {
            worker,
            down: ms(rng, 200..=1_500),
        },
        3..=4 => Fault::PauseWorker {
            worker,
            paused: ms(rng, 1_500..=3_000),
        },
        5..=6 => Fault::TermWorker {
            worker,
            down: ms(rng, 200..=1_500),
        },
        7..=8 => Fault::KillRedis {
            down: ms(rng, 200..=1_500),
        },
        _ => Fault::PauseRedis {
            paused: ms(rng, 200..=800),
        },
    }
}

/// What the faults did.
#[derive(Debug, Default)]
pub struct FaultReport {
    /// Faults carried out, by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Each fault: when it started (from the start of the load) and what it was.
    pub log: Vec<String>,
    /// Fault steps that did not go as the failure contract says (e.g. a worker that did not exit
    /// cleanly after SIGTERM, a process that did not start again).
    pub anomalies: Vec<String>,
}

/// One worker slot: its id and its current index in the stack.
#[derive(Debug)]
struct Slot {
    id: String,
    index: usize,
    paused: bool,
    down: bool,
}

/// Carries out faults on a stack, tracking what is down so that it can all be restored.
#[derive(Debug)]
pub struct Injector<'a> {
    stack: &'a Stack,
    slots: Vec<Slot>,
    redis_paused: bool,
    redis_down: bool,
    report: FaultReport,
}

impl<'a> Injector<'a> {
    /// An injector for a stack started with workers `w1`…`wN` at indexes `0..N`.
    pub fn new(stack: &'a Stack, workers: usize) -> Injector<'a> {
        let slots = (0..workers)
            .map(|i| Slot {
                id: format!("w{}", i + 1),
                index: i,
                paused: false,
                down: false,
            })
            .collect();
        Injector {
            stack,
            slots,
            redis_paused: false,
            redis_down: false,
            report: FaultReport::default(),
        }
    }

    /// Runs `plan` from `started`, then restores everything; returns what happened.
    pub async fn run(mut self, plan: &[Planned], started: Instant) -> FaultReport {
        for planned in plan {
            tokio::time::sleep_until(started + planned.at).await;
            let line = format!("{:>7.1?} {}", started.elapsed(), planned.fault);
            eprintln!("chaos fault: {line}");
            self.report.log.push(line);
            *self.report.by_kind.entry(planned.fault.kind()).or_default() += 1;
            if let Err(error) = self.inject(&planned.fault).await {
                let what = format!("{}: {error:#}", planned.fault);
                self.report.anomalies.push(what);
            }
            self.revive_the_fallen(&planned.fault).await;
        }
        self.restore().await;
        self.report
    }

    async fn inject(&mut self, fault: &Fault) -> anyhow::Result<()> {
        match *fault {
            Fault::KillWorker { worker, down } => {
                let slot = &mut self.slots[worker];
                self.stack.kill_worker(slot.index).await?;
                slot.down = true;
                tokio::time::sleep(down).await;
                self.start(worker).await
            }
            Fault::PauseWorker { worker, paused } => {
                let slot = &mut self.slots[worker];
                self.stack.pause_worker(slot.index).await?;
                slot.paused = true;
                tokio::time::sleep(paused).await;
                self.stack.resume_worker(slot.index).await?;
                slot.paused = false;
                Ok(())
            }
            Fault::TermWorker { worker, down } => {
                let slot = &mut self.slots[worker];
                let stopped = self.stack.stop_worker(slot.index).await;
                slot.down = true;
                if stopped.is_err() {
                    // Make sure it is gone before its successor starts.
                    self.stack.kill_worker(slot.index).await?;
                }
                stopped?;
                tokio::time::sleep(down).await;
                self.start(worker).await
            }
            Fault::KillRedis { down } => {
                self.redis_down = true;
                self.stack.kill_redis().await?;
                tokio::time::sleep(down).await;
                self.stack.start_redis().await?;
                self.redis_down = false;
                Ok(())
            }
            Fault::PauseRedis { paused } => {
                self.stack.pause_redis(true).await?;
                self.redis_paused = true;
                tokio::time::sleep(paused).await;
                self.stack.pause_redis(false).await?;
                self.redis_paused = false;
                Ok(())
            }
        }
    }

    /// Starts worker slot `worker` again under its id.
    async fn start(&mut self, worker: usize) -> anyhow::Result<()> {
        let slot = &mut self.slots[worker];
        slot.index = self.stack.start_worker(&slot.id).await?;
        slot.down = false;
        Ok(())
    }

    /// Starts again any worker that exited although no fault stopped it (a crash), noting it.
    async fn revive_the_fallen(&mut self, after: &Fault) {
        for worker in 0..self.slots.len() {
            let slot = &self.slots[worker];
            if slot.down || !self.stack.worker_exited(slot.index).await.unwrap_or(false) {
                continue;
            }
            let id = slot.id.clone();
            let log = self.stack.log_dir().display().to_string();
            self.report.anomalies.push(format!(
                "{id} exited by itself (noticed after: {after}); logs in {log}"
            ));
            let started = self.start(worker).await;
            self.note("restarting a worker that had exited", started);
        }
    }

    /// Redis up and running, every worker running: whatever a failed fault step left behind.
    async fn restore(&mut self) {
        if self.redis_paused {
            self.note("resuming redis", self.stack.pause_redis(false).await);
            self.redis_paused = false;
        }
        if self.redis_down {
            self.note("restarting redis", self.stack.start_redis().await);
            self.redis_down = false;
        }
        for worker in 0..self.slots.len() {
            let slot = &self.slots[worker];
            if slot.paused {
                let resumed = self.stack.resume_worker(slot.index).await;
                self.note("resuming a worker", resumed);
                self.slots[worker].paused = false;
            }
            let slot = &self.slots[worker];
            let exited = self.stack.worker_exited(slot.index).await.unwrap_or(true);
            if slot.down || exited {
                let started = self.start(worker).await;
                self.note("restarting a worker", started);
            }
        }
    }

    fn note(&mut self, what: &str, outcome: anyhow::Result<()>) {
        if let Err(error) = outcome {
            self.report
                .anomalies
                .push(format!("restore, {what}: {error:#}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_schedule_every_time() {
        let text = |seed| format!("{:?}", schedule(seed, 3, Duration::from_secs(60)));
        assert_eq!(text(11), text(11));
        assert_ne!(text(11), text(12));
    }

    #[test]
    fn faults_come_every_few_seconds_and_end_before_the_load() {
        let load = Duration::from_secs(60);
        let plan = schedule(3, 3, load);
        assert!(plan.len() >= 8, "{} faults", plan.len());
        assert!(plan.iter().all(|p| p.at + QUIET_END <= load));
        assert!(
            plan.windows(2)
                .all(|w| w[1].at - w[0].at >= Duration::from_secs(2))
        );
    }

    #[test]
    fn a_worker_pause_outlasts_a_one_second_lease() {
        let plan = schedule(5, 3, Duration::from_secs(3_600));
        let pauses: Vec<Duration> = plan
            .iter()
            .filter_map(|p| match p.fault {
                Fault::PauseWorker { paused, .. } => Some(paused),
                _ => None,
            })
            .collect();
        assert!(!pauses.is_empty());
        assert!(pauses.iter().all(|p| *p > Duration::from_secs(1)));
    }
}
