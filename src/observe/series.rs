//! A server's metrics over a stage, from the expositions scraped during it: every counter's
//! increase (a reset — a value lower than the one before — counts from zero), every gauge's
//! range, every histogram's bucket increases. Pure: fed parsed expositions, it knows no
//! clock and no socket.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::exposition::{parse_value, Exposition, Role, Sample};
use super::known::{self, Known};
use super::values::{Acc, CounterAcc, GaugeRange, HistAcc, HistogramDelta};

/// Most series followed per target (a server exposing more has the rest counted, not kept).
const MAX_SERIES: usize = 20_000;
/// Most raw series of each kind written per stage (the recognised figures use them all).
const MAX_RAW: usize = 200;
const MAX_RAW_HISTOGRAMS: usize = 40;

/// One server's figures over one stage (`stages[].server_metrics.NAME` in summary.json).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ServerFigures {
    pub url: String,
    /// Scrapes that succeeded and failed in the stage (its boundaries included).
    pub scrapes: u64,
    pub failed_scrapes: u64,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// Exposition lines that could not be read (skipped).
    pub bad_lines: u64,
    /// The metrics recognised by name (vLLM's, SGLang's, the built-in mock's).
    pub known: Known,
    /// Every counter that increased: series → increase.
    pub counters: BTreeMap<String, f64>,
    /// Every gauge: series → range.
    pub gauges: BTreeMap<String, GaugeRange>,
    /// Every histogram that saw observations: series (without `le`) → increase.
    pub histograms: BTreeMap<String, HistogramDelta>,
    /// Series not written: beyond the bounds (200 counters, 200 gauges, 40 histograms per
    /// stage, 20,000 followed per target).
    pub series_left_out: u64,
}

/// One target's series across the run.
#[derive(Default)]
pub(crate) struct Tracker {
    /// Every cumulative series' last value.
    last: HashMap<String, f64>,
    /// A scrape succeeded before: a series first seen now started from zero since.
    baseline: bool,
    left_out: u64,
    acc: Acc,
}

impl Tracker {
    /// The increase of cumulative series `key` now at `v`.
    fn delta(&mut self, key: &str, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        let full = self.last.len() >= MAX_SERIES;
        let prev = match self.last.get_mut(key) {
            Some(p) => std::mem::replace(p, v),
            None if full => {
                self.left_out += 1;
                return None;
            }
            None => {
                self.last.insert(key.to_string(), v);
                return Some(if self.baseline { v } else { 0.0 });
            }
        };
        Some(if v >= prev { v - prev } else { v })
    }

    /// Takes in a successful scrape.
    pub(crate) fn scraped(&mut self, e: &Exposition) {
        self.acc.scrapes += 1;
        self.acc.bad_lines += e.bad_lines;
        let mut sums: HashMap<String, f64> = HashMap::new();
        for s in &e.samples {
            let (family, role) = e.role(s);
            match role {
                Role::Counter => {
                    let key = s.key(None);
                    if let Some(d) = self.delta(&key, s.value) {
                        let acc = self.acc.counters.entry(key).or_insert_with(|| CounterAcc {
                            family,
                            labels: s.labels.clone(),
                            delta: 0.0,
                        });
                        acc.delta += d;
                    }
                }
                Role::Bucket | Role::Sum | Role::Count => self.histogram(s, family, role),
                Role::Gauge | Role::Other if s.value.is_finite() => {
                    self.acc
                        .gauges
                        .entry(s.key(None))
                        .and_modify(|g| g.add(s.value))
                        .or_insert(GaugeRange::of(s.value));
                    *sums.entry(family).or_default() += s.value;
                }
                Role::Gauge | Role::Other | Role::Created => {}
            }
        }
        for (family, v) in sums {
            self.acc.family_gauges.entry(family).and_modify(|g| g.add(v)).or_insert(GaugeRange::of(v));
        }
        self.baseline = true;
    }

    fn histogram(&mut self, s: &Sample, family: String, role: Role) {
        let id = Sample { name: family.clone(), labels: s.labels.clone(), value: 0.0 }.key(Some("le"));
        let le = match role {
            Role::Bucket => match s.label("le") {
                Some(text) => match parse_value(text) {
                    Some(bound) if !bound.is_nan() => Some((bound, text.to_string())),
                    _ => return,
                },
                None => return,
            },
            _ => None,
        };
        let Some(d) = self.delta(&s.key(None), s.value) else { return };
        let h = self.acc.hists.entry(id).or_insert_with(|| HistAcc { family, ..HistAcc::default() });
        match (role, le) {
            (Role::Bucket, Some((bound, text))) => match h.buckets.iter_mut().find(|b| b.0 == bound) {
                Some(b) => b.2 += d,
                None => h.buckets.push((bound, text, d)),
            },
            (Role::Sum, _) => h.sum += d,
            (Role::Count, _) => h.count += d,
            _ => {}
        }
    }

    /// A scrape that failed.
    pub(crate) fn failed(&mut self, why: String) {
        self.acc.failed += 1;
        self.acc.last_error = Some(why);
    }

    /// Ends the stage: its figures, and a fresh start for the next.
    pub(crate) fn close(&mut self, url: &str) -> ServerFigures {
        let acc = std::mem::take(&mut self.acc);
        let known = known::recognise(&acc);
        let mut left_out = std::mem::take(&mut self.left_out);
        let mut counters: Vec<(String, f64)> =
            acc.counters.iter().filter(|(_, c)| c.delta != 0.0).map(|(k, c)| (k.clone(), c.delta)).collect();
        counters.sort_by(|a, b| a.0.cmp(&b.0));
        left_out += counters.len().saturating_sub(MAX_RAW) as u64;
        let mut gauges: Vec<(String, GaugeRange)> = acc.gauges.iter().map(|(k, g)| (k.clone(), *g)).collect();
        gauges.sort_by(|a, b| a.0.cmp(&b.0));
        left_out += gauges.len().saturating_sub(MAX_RAW) as u64;
        let mut hists: Vec<(String, HistogramDelta)> = acc
            .hists
            .iter()
            .filter(|(_, h)| h.count > 0.0)
            .map(|(k, h)| (k.clone(), HistogramDelta::of(&h.buckets, h.sum, h.count)))
            .collect();
        hists.sort_by(|a, b| a.0.cmp(&b.0));
        left_out += hists.len().saturating_sub(MAX_RAW_HISTOGRAMS) as u64;
        ServerFigures {
            url: url.to_string(),
            scrapes: acc.scrapes,
            failed_scrapes: acc.failed,
            last_error: acc.last_error,
            bad_lines: acc.bad_lines,
            known,
            counters: counters.into_iter().take(MAX_RAW).collect(),
            gauges: gauges.into_iter().take(MAX_RAW).collect(),
            histograms: hists.into_iter().take(MAX_RAW_HISTOGRAMS).collect(),
            series_left_out: left_out,
        }
    }
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
