//! report.html in a real browser: a real run's page rendered by headless Chromium (installed by
//! scripts/install-test-deps.sh), asserting on the DOM it produced: every chart, the stage
//! table's figures equal to summary.json's, escaped user input, and nothing loaded from
//! anywhere (the page must work offline).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_llmload, tempdir, Mock};
use llmload::report::html;

/// Chromium's own limit: generous, for a busy 2-core machine.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);

fn chromium() -> PathBuf {
    let found = ["/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chrome-headless-shell"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths).map(|d| d.join("chromium-headless-shell")).find(|p| p.exists())
            })
        });
    found.unwrap_or_else(|| {
        panic!("chromium-headless-shell is not installed: run scripts/install-test-deps.sh (report.html is tested in a real browser)")
    })
}

/// The DOM headless Chromium builds from `page` (its own process group, killed afterwards).
fn dump_dom(page: &Path) -> String {
    let scratch = tempdir("chromium");
    let out = scratch.join("dom.html");
    let mut child = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", scratch.join("profile").display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn chromium-headless-shell");
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break Some(status);
        }
        if started.elapsed() > CHROMIUM_LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Chromium's helpers share its group; none may outlive the test.
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let status = status
        .unwrap_or_else(|| panic!("chromium did not render {} within {CHROMIUM_LIMIT:?}", page.display()));
    assert!(status.success(), "chromium exited with {status}");
    let dom = std::fs::read_to_string(&out).unwrap();
    assert!(dom.contains("</html>"), "chromium produced no DOM: {dom:?}");
    dom
}

/// Every reference to something outside the page: any src=, url(, @import, <link, <script,
/// and any href that is not an in-page anchor.
fn external_refs(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    for needle in ["src=", "url(", "@import", "<link", "<script", "<iframe", "<object", "<embed"] {
        for (at, _) in lower.match_indices(needle) {
            found.push(lower[at..(at + 80).min(lower.len())].to_string());
        }
    }
    for (at, _) in lower.match_indices("href=") {
        let value = lower[at + 5..].trim_start_matches(['"', '\'']);
        if !value.starts_with('#') {
            found.push(lower[at..(at + 80).min(lower.len())].to_string());
        }
    }
    found
}

/// The text of each `<td data-k=...>` cell of the table row with this id.
fn row(dom: &str, id: &str) -> Vec<(String, String)> {
    let start = dom.find(&format!("<tr id=\"{id}\"")).unwrap_or_else(|| panic!("no row {id}"));
    let end = start + dom[start..].find("</tr>").expect("row end");
    dom[start..end]
        .split("<td data-k=\"")
        .skip(1)
        .map(|cell| {
            let (key, rest) = cell.split_once('"').expect("cell key");
            let text = rest.split_once('>').expect("cell body").1;
            (key.to_string(), text.split('<').next().unwrap().to_string())
        })
        .collect()
}

fn cell<'a>(cells: &'a [(String, String)], key: &str) -> &'a str {
    &cells.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no {key} cell in {cells:?}")).1
}

#[test]
fn a_real_run_renders_in_chromium_with_the_summary_figures() {
    chromium();
    let run = run_llmload(&["--stages", "4:3s"], Duration::from_secs(90));
    let page = run.dir.join("report.html");
    let text =
        std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}\n{}", page.display(), run.stderr));
    assert_eq!(external_refs(&text), Vec::<String>::new(), "the file references something outside it");

    let dom = dump_dom(&page);
    assert_eq!(external_refs(&dom), Vec::<String>::new(), "the DOM references something outside the page");
    let s = &run.summary;
    let timeline = s["timeline"].as_array().expect("timeline");
    let sampled = timeline
        .iter()
        .any(|p| ["latency_p50_us", "latency_p99_us", "ttft_p50_us"].iter().any(|k| !p[k].is_null()));
    // rps, errors, in flight, tokens (+ latency when sampled); latency and TTFT spectra; TTFT and ITL bars.
    assert_eq!(dom.matches("<svg").count(), 8 + usize::from(sampled), "charts in the DOM");
    assert!(!dom.contains(">no data<"), "a chart of a real run has no data");

    let all = &s["stages"][0]["all"];
    let cells = row(&dom, "stage-1-all");
    assert_eq!(cell(&cells, "scenario"), "ALL");
    assert_eq!(cell(&cells, "requests"), html::count(all["requests"].as_u64().unwrap()));
    for (metric, key, q) in
        [("latency", "latency_p99", "p99"), ("ttft", "ttft_p99", "p99"), ("latency", "latency_p50", "p50")]
    {
        let p = &all["us"][metric];
        let expected = html::duration(p["count"].as_u64().unwrap(), p[q].as_u64().unwrap());
        assert_eq!(cell(&cells, key), expected, "{key} in the page vs summary.json");
        assert_ne!(expected, "-", "the quickstart records {metric}");
    }
    let scenarios = s["stages"][0]["scenarios"].as_object().unwrap();
    assert_eq!(
        dom.matches("<tr id=\"stage-1-s\"").count(),
        if scenarios.len() > 1 { scenarios.len() } else { 0 }
    );
}

#[test]
fn a_hostile_scenario_name_stays_text_in_chromium() {
    chromium();
    let mock = Mock::start(&["--cores", "1"]);
    let evil = "<script>document.title='pwned'</script><img src=x>";
    let profile = tempdir("html-profile").join("p.json");
    let json = serde_json::json!({
        "defaults": {"target": format!("http://{}/v1/chat/completions", mock.addr), "model": "m"},
        "stages": ["2:1s"],
        "scenarios": [{"name": evil}, {"name": "plain"}]
    });
    std::fs::write(&profile, serde_json::to_vec(&json).unwrap()).unwrap();
    let run = run_llmload(&[profile.to_str().unwrap(), "--cores", "1"], Duration::from_secs(60));
    let page = run.dir.join("report.html");
    let text =
        std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}\n{}", page.display(), run.stderr));
    assert!(!text.contains(evil));
    let dom = dump_dom(&page);
    assert!(!dom.contains("<script") && !dom.contains("<img"), "markup from a scenario name became elements");
    assert!(!dom.contains("pwned</title>"), "a script from a scenario name ran");
    assert!(dom.contains("&lt;script&gt;document.title="), "the name is shown as text");
}
