//! Container logs as `kubectl logs` shows them, read from the files containerd writes
//! (upstream's `pkg/kubelet/kuberuntime/logs`).
//!
//! containerd writes one line per chunk of output in the CRI log format:
//! `2026-11-24T22:17:59.290446266Z stdout F line 0` — an RFC 3339 timestamp, the stream, a
//! tag (`F` for a full line, `P` for a partial one: a long line is split in several `P`
//! chunks ended by an `F`), then the text. A [`Decoder`] turns that back into the
//! container's own lines, with the timestamp of their last chunk in front when asked
//! (`timestamps=true`); [`Options`] are the query parameters of `/containerLogs`.

use chrono::{DateTime, Utc};

/// `/containerLogs` query parameters (upstream's `PodLogOptions` names).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    /// Only the last N lines (of what is there when the request comes).
    pub tail_lines: Option<usize>,
    /// Only lines written in the last N seconds.
    pub since_seconds: Option<i64>,
    /// At most this many bytes of output.
    pub limit_bytes: Option<usize>,
}

impl Options {
    /// Parses `follow=true&tailLines=10&...`; unknown parameters are ignored.
    pub fn from_query(query: &str) -> Result<Options, String> {
        let mut o = Options::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
            let flag = || matches!(v, "true" | "1" | "");
            let number = |what: &str| v.parse::<i64>().map_err(|_| format!("invalid {what} {v:?}"));
            match k {
                "follow" => o.follow = flag(),
                "previous" => o.previous = flag(),
                "timestamps" => o.timestamps = flag(),
                "tailLines" => o.tail_lines = Some(number("tailLines")?.max(0) as usize),
                "sinceSeconds" => o.since_seconds = Some(number("sinceSeconds")?),
                "limitBytes" => o.limit_bytes = Some(number("limitBytes")?.max(0) as usize),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// One line of the container's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub time: DateTime<Utc>,
    pub text: String,
}

impl Line {
    /// As sent to the client: the text, or `TIMESTAMP text` with `timestamps=true`.
    pub fn render(&self, timestamps: bool) -> String {
        if timestamps {
            format!("{} {}\n", self.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), self.text)
        } else {
            format!("{}\n", self.text)
        }
    }
}

/// Turns CRI log lines into the container's lines, joining partial chunks. Feed it whole
/// file lines in order; it keeps a partial line across calls (a file that is still growing).
#[derive(Debug, Default)]
pub struct Decoder {
    partial: String,
}

impl Decoder {
    /// Decodes one CRI log line; returns a line when it completes one. Malformed lines
    /// are skipped (upstream logs and skips them too).
    pub fn push(&mut self, raw: &str) -> Option<Line> {
        let mut parts = raw.splitn(4, ' ');
        let (time, _stream, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let text = parts.next().unwrap_or("");
        let time = DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc);
        self.partial.push_str(text);
        if tag == "P" {
            return None;
        }
        Some(Line { time, text: std::mem::take(&mut self.partial) })
    }
}

/// Decodes a whole file's content and applies `sinceSeconds` and `tailLines`.
pub fn select(content: &str, opts: &Options, now: DateTime<Utc>) -> Vec<Line> {
    let mut decoder = Decoder::default();
    let since = opts.since_seconds.map(|s| now - chrono::Duration::seconds(s));
    let lines: Vec<Line> =
        content.lines().filter_map(|l| decoder.push(l)).filter(|l| since.is_none_or(|since| l.time >= since)).collect();
    let skip = opts.tail_lines.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
    lines.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "2026-11-24T22:17:57.000000000Z stdout F line 0\n\
2026-11-24T22:17:58.000000000Z stdout P long \n\
2026-11-24T22:17:58.500000000Z stdout F line\n\
garbage\n\
2026-11-24T22:17:59.290446266Z stderr F line 2\n";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T22:18:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn partial_chunks_are_joined_and_garbage_is_skipped() {
        let text: Vec<String> = select(FILE, &Options::default(), now()).into_iter().map(|l| l.text).collect();
        assert_eq!(text, ["line 0", "long line", "line 2"]);
    }

    #[test]
    fn tail_since_and_timestamps_follow_the_query() {
        let cases = [
            ("tailLines=1", vec!["line 2\n"]),
            ("tailLines=0", vec![]),
            ("sinceSeconds=2", vec!["long line\n", "line 2\n"]),
            ("timestamps=true&tailLines=1", vec!["2026-11-24T22:17:59.290446266Z line 2\n"]),
        ];
        for (query, want) in cases {
            let o = Options::from_query(query).unwrap();
            let got: Vec<String> = select(FILE, &o, now()).iter().map(|l| l.render(o.timestamps)).collect();
            assert_eq!(got, want, "{query}");
        }
        let o = Options::from_query("follow=true&previous=false&container=x").unwrap();
        assert!(o.follow && !o.previous);
        assert!(Options::from_query("tailLines=x").is_err());
    }
}
