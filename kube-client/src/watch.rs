//! Watch streams: from a chunked HTTP body to typed [`Event`]s.
//!
//! Why line-delimited JSON: a watch is one HTTP answer that never ends (until the server's
//! timeout). The apiserver writes each event as one JSON object on its own line,
//! `{"type":"ADDED","object":{...}}\n`, and flushes. A newline never occurs inside compact
//! JSON (it is escaped in strings), so splitting on `\n` finds event boundaries without a
//! streaming JSON parser. But TCP and HTTP chunking know nothing of lines: one chunk may
//! hold half an event, or three and a half. [`LineDecoder`] buffers the bytes and hands out
//! only complete lines.
//!
//! An `ERROR` event (e.g. `410 Gone`: the version we asked for was compacted) carries a
//! `Status`; we turn it into an [`Error::Api`] item so that the caller's `?` sees it like any
//! other API error. The stream ends when the server closes the answer.

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use kube_api::meta::{Status, WatchEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::VecDeque;

use crate::client::ByteStream;
use crate::error::{Error, Result};

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<K> {
    /// A new object (or, at the start of a watch without a version, an existing one).
    Added(K),
    /// An object changed; this is its new state.
    Modified(K),
    /// An object was deleted; this is its last state.
    Deleted(K),
    /// No change, only progress: every object up to `resource_version` has been sent.
    /// Remember it to resume a watch later.
    Bookmark { resource_version: String },
}

impl<K> Event<K> {
    /// Upstream's name of the event type: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Added(_) => "ADDED",
            Event::Modified(_) => "MODIFIED",
            Event::Deleted(_) => "DELETED",
            Event::Bookmark { .. } => "BOOKMARK",
        }
    }

    /// The object of an added/modified/deleted event.
    pub fn object(&self) -> Option<&K> {
        match self {
            Event::Added(o) | Event::Modified(o) | Event::Deleted(o) => Some(o),
            Event::Bookmark { .. } => None,
        }
    }
}

/// Beyond this, a "line" is not an event but a broken stream (objects are at most a few MiB).
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// Splits a byte stream into lines, however the bytes were chunked.
#[derive(Debug)]
pub struct LineDecoder {
    buf: BytesMut,
    /// How much of `buf` is known to hold no `\n`: long lines are scanned once, not once
    /// per chunk.
    scanned: usize,
    limit: usize,
}

impl Default for LineDecoder {
    fn default() -> Self {
        LineDecoder::with_limit(MAX_LINE)
    }
}

impl LineDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limit(limit: usize) -> Self {
        LineDecoder {
            buf: BytesMut::new(),
            scanned: 0,
            limit,
        }
    }

    /// Adds a chunk; returns the lines it completed (without `\n`; blank lines skipped).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>> {
        self.buf.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let line = self.buf.split_to(self.scanned + pos + 1).freeze();
            self.scanned = 0;
            let line = line.slice(..line.len() - 1);
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(line);
            }
        }
        self.scanned = self.buf.len();
        if self.buf.len() > self.limit {
            return Err(Error::LineTooLong { limit: self.limit });
        }
        Ok(lines)
    }

    /// The end of the stream: a last line without `\n`, if any.
    pub fn finish(&mut self) -> Option<Bytes> {
        let rest = self.buf.split().freeze();
        self.scanned = 0;
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

/// The complete lines of a body, as they arrive. A transport error or an over-long line
/// ends the stream after being yielded.
pub fn lines(body: ByteStream) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        body: ByteStream,
        decoder: LineDecoder,
        ready: VecDeque<Bytes>,
        done: bool,
    }
    let state = State {
        body,
        decoder: LineDecoder::new(),
        ready: VecDeque::new(),
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.ready.pop_front() {
                return Some((Ok(line), st));
            }
            if st.done {
                return None;
            }
            match st.body.next().await {
                Some(Ok(chunk)) => match st.decoder.push(&chunk) {
                    Ok(lines) => st.ready.extend(lines),
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                },
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    st.ready.extend(st.decoder.finish());
                }
            }
        }
    })
    .boxed()
}

/// Decodes one line of a watch stream. `ERROR` events become [`Error::Api`].
pub fn decode_event<K: DeserializeOwned>(line: &[u8]) -> Result<Event<K>> {
    let what = || "an event from the watch stream".to_string();
    let raw: WatchEvent<Value> = serde_json::from_slice(line).map_err(|source| Error::Decode {
        what: what(),
        source,
    })?;
    let object = |v: Value| {
        serde_json::from_value::<K>(v).map_err(|source| Error::Decode {
            what: what(),
            source,
        })
    };
    match raw.type_.as_str() {
        "ADDED" => Ok(Event::Added(object(raw.object)?)),
        "MODIFIED" => Ok(Event::Modified(object(raw.object)?)),
        "DELETED" => Ok(Event::Deleted(object(raw.object)?)),
        "BOOKMARK" => Ok(Event::Bookmark {
            resource_version: raw.object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }),
        "ERROR" => {
            let status: Status =
                serde_json::from_value(raw.object).map_err(|source| Error::Decode {
                    what: what(),
                    source,
                })?;
            Err(Error::Api(Box::new(status)))
        }
        other => Err(Error::Decode {
            what: what(),
            source: serde::de::Error::custom(format!("unknown event type {other:?}")),
        }),
    }
}

/// The typed events of a watch body. A line that does not decode yields an error item and
/// the stream goes on; the caller decides whether to stop (a reflector would re-list).
pub fn events<K: DeserializeOwned + Send + 'static>(
    body: ByteStream,
) -> BoxStream<'static, Result<Event<K>>> {
    lines(body)
        .map(|line| line.and_then(|l| decode_event::<K>(&l)))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&str]) -> ByteStream {
        let owned: Vec<Result<Bytes>> = parts
            .iter()
            .map(|p| Ok(Bytes::from(p.to_string())))
            .collect();
        stream::iter(owned).boxed()
    }

    #[test]
    fn the_decoder_joins_lines_split_across_chunks_and_splits_several_per_chunk() {
        let mut d = LineDecoder::new();
        assert!(d.push(b"{\"a\":").unwrap().is_empty());
        assert!(d.push(b"1").unwrap().is_empty());
        let got = d.push(b"}\n{\"b\":2}\n\n{\"c\":").unwrap();
        assert_eq!(
            got,
            vec![
                Bytes::from_static(b"{\"a\":1}"),
                Bytes::from_static(b"{\"b\":2}")
            ]
        );
        assert_eq!(
            d.push(b"3}\r\n").unwrap(),
            vec![Bytes::from_static(b"{\"c\":3}\r")]
        );
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn a_long_line_fed_byte_by_byte_comes_out_whole() {
        let long = format!("{{\"x\":\"{}\"}}\n", "y".repeat(100_000));
        let mut d = LineDecoder::new();
        let mut out = Vec::new();
        for b in long.as_bytes() {
            out.extend(d.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), long.len() - 1);
    }

    #[test]
    fn a_line_over_the_limit_is_an_error() {
        let mut d = LineDecoder::with_limit(8);
        assert!(matches!(
            d.push(b"0123456789"),
            Err(Error::LineTooLong { limit: 8 })
        ));
    }

    #[tokio::test]
    async fn events_are_decoded_errors_become_api_errors_and_the_stream_ends_with_the_body() {
        let body = chunks(&[
            r#"{"type":"ADDED","object":{"n":1}}"#,
            "\n{\"type\":\"MODI",
            r#"FIED","object":{"n":2}}"#,
            "\n{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"77\"}}}\n",
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old resource version: 1 (77)"}}"#,
        ]);
        let got: Vec<Result<Event<Value>>> = events::<Value>(body).collect().await;
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[0].as_ref().unwrap(),
            &Event::Added(serde_json::json!({"n":1}))
        );
        assert_eq!(
            got[1].as_ref().unwrap(),
            &Event::Modified(serde_json::json!({"n":2}))
        );
        assert_eq!(
            got[2].as_ref().unwrap(),
            &Event::Bookmark {
                resource_version: "77".into()
            }
        );
        let err = got[3].as_ref().unwrap_err();
        assert!(err.is_gone(), "{err}");
    }

    #[tokio::test]
    async fn a_line_that_is_not_an_event_is_a_decode_error_and_the_stream_goes_on() {
        let body = chunks(&["not json\n", r#"{"type":"DELETED","object":{}}"#, "\n"]);
        let got: Vec<Result<Event<Value>>> = events::<Value>(body).collect().await;
        assert!(matches!(got[0], Err(Error::Decode { .. })));
        assert_eq!(got[1].as_ref().unwrap().type_name(), "DELETED");
    }
}
