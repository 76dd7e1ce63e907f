//! Work for the HTTP threads (webhooks, resolver calls, directory reads), and
//! what comes back: plain data, so that it
//! can cross threads. Each kind of call knows its lane and how to run.

use super::deliveries::{Delivery, Sent};
use super::http::{unix_us, Http};
use super::resolver::ResolverJob;
use super::sync::{Outcome, SyncJob};

pub enum Job {
    Deliver(Delivery),
    Resolve(ResolverJob),
    Sync(SyncJob),
}

pub enum Done {
    Delivered(Sent),
    /// The job, the resolver's answer, and when it came (Unix µs).
    Resolved(ResolverJob, Result<Vec<String>, String>, i64),
    /// A directory source read (or not), and when the reading ended.
    Synced(SyncJob, Outcome, i64),
}

const ENDPOINT_LANE: &str = "endpoint:";

impl Job {
    /// Deliveries queue per endpoint, resolver calls per URL.
    pub fn lane(&self) -> String {
        match self {
            Job::Deliver(d) => format!("{ENDPOINT_LANE}{}", d.endpoint_id),
            Job::Resolve(j) => format!("resolver:{}", j.url),
            Job::Sync(j) => format!("directory:{}", j.tenant()),
        }
    }

    /// The endpoint id of an endpoint lane.
    pub fn endpoint_of_lane(lane: &str) -> Option<&str> {
        lane.strip_prefix(ENDPOINT_LANE)
    }

    /// Makes the call (on an HTTP thread).
    pub fn run(self, http: &Http) -> Done {
        match self {
            Job::Deliver(d) => {
                let answer = http.post(&d.url, &d.event_id, &d.body, &d.secrets);
                Done::Delivered(Sent { delivery: d.key(), answer })
            }
            Job::Resolve(j) => {
                let outcome = j.call(http);
                Done::Resolved(j, outcome, unix_us())
            }
            Job::Sync(j) => {
                let outcome = j.run();
                Done::Synced(j, outcome, unix_us())
            }
        }
    }
}
