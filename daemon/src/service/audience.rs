//! The public portal's audience: page views (hits) and downloads per
//! publication and dataset, per day. Nothing about the visitor is kept — no
//! address, no cookie, no agent: a day's counts are all there is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Result, Service};
use kp_model::date;

/// Views and downloads of one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub(crate) hits: u64,
    pub(crate) downloads: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.hits += other.hits;
        self.downloads += other.downloads;
    }
}

const PREFIX: &str = "portal/visits/";

impl Service {
    /// Adds `counts` (by item: `p/ID` a publication, `d/ID` a dataset) to the
    /// day `day` (`YYYY-MM-DD`), durably. One writer (the portal's) calls it.
    pub(crate) fn record_visits(&self, day: &str, counts: &BTreeMap<String, Tally>) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let key = format!("{PREFIX}{day}");
        let mut kept: BTreeMap<String, Tally> = self
            .repo
            .get_meta(key.as_bytes())?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for (item, t) in counts {
            kept.entry(item.clone()).or_default().add(*t);
        }
        let bytes = serde_json::to_vec(&kept).unwrap_or_default();
        self.repo.put_meta(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// The counts of the days between `from` and `to` (Unix seconds,
    /// inclusive), summed by item.
    pub(crate) fn visits(&self, from: i64, to: i64) -> Result<BTreeMap<String, Tally>> {
        let mut out: BTreeMap<String, Tally> = BTreeMap::new();
        for (key, value) in self.repo.scan_meta(PREFIX.as_bytes())? {
            let day = String::from_utf8_lossy(&key).into_owned();
            let Ok(at) = date::parse_day(&day) else {
                continue;
            };
            if !(from..=to).contains(&at) {
                continue;
            }
            let counts: BTreeMap<String, Tally> =
                serde_json::from_slice(&value).unwrap_or_default();
            for (item, t) in counts {
                out.entry(item).or_default().add(t);
            }
        }
        Ok(out)
    }
}
