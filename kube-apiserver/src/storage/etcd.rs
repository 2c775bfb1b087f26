//! The real storage: etcd v3, through the `etcd-client` crate.
//!
//! Every write is one etcd transaction whose compare makes it safe against concurrent
//! writers (optimistic concurrency, as upstream's `storage/etcd3` store):
//!
//! | operation | compare                          | then          | else          |
//! |-----------|----------------------------------|---------------|---------------|
//! | create    | `create_revision(key) == 0`      | put           | —             |
//! | update    | `mod_revision(key) == expected`  | put           | get key       |
//! | delete    | `mod_revision(key) == expected`  | delete        | get key       |
//!
//! A failed update or delete reads the key in the same transaction, so the error says
//! either `NotFound` or `Conflict { actual }` without a second round trip.
//!
//! Lists are range reads `[prefix, prefix_end)` (keys come sorted from etcd), paged with
//! `limit` and `start_after` (the range then starts at `start_after + "\0"`), at a fixed
//! revision so that pages are consistent. Watches ask etcd for `prev_kv` so that updates
//! and deletions carry the old value.
//!
//! Connection handling: the client is a tonic channel that reconnects lazily, so a call
//! made while etcd is down fails with `Unavailable` (after at most [`REQUEST_TIMEOUT`]) and
//! a call made after etcd is back succeeds again. An open watch stream breaks when the
//! connection does; the stream then ends with `Unavailable` and the caller (the watch
//! cache) resumes from the last revision it saw.

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchOptions, WatchResponse, WatchStream,
};
use futures::stream::{self, BoxStream, StreamExt};

use super::{Backend, EventType, KeyValue, ListResult, Result, StorageError, StorageEvent};

/// Deadline of one unary request (get, list, txn, compact).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a TCP connection to etcd.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 keep-alive: notices a silently dead connection under a long-lived watch.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// A watch that received nothing for this long asks etcd for a progress notification, so
/// that the watcher learns the store's revision moved on (writes under other prefixes).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// etcd's message for a read or watch below the compacted revision.
const COMPACTED_MESSAGE: &str = "required revision has been compacted";

/// [`Backend`] on an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdBackend {
    client: Client,
}

impl EtcdBackend {
    /// Connects to `endpoints` (e.g. `http://127.0.0.1:2379`). The connection itself is
    /// made lazily: this fails only for malformed endpoints, not when etcd is down.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdBackend> {
        EtcdBackend::connect_with(endpoints, None).await
    }

    /// The same over TLS (`https://` endpoints): `--etcd-cafile` to trust etcd, and
    /// `--etcd-certfile`/`--etcd-keyfile` for etcd's `--client-cert-auth`.
    pub async fn connect_with(endpoints: &[String], tls: Option<etcd_client::TlsOptions>) -> Result<EtcdBackend> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEP_ALIVE_INTERVAL, KEEP_ALIVE_TIMEOUT);
        if let Some(tls) = tls {
            options = options.with_tls(tls);
        }
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(unavailable)?;
        tracing::info!(?endpoints, "connected to etcd");
        Ok(EtcdBackend { client })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let mut kv = self.client.kv_client();
        with_deadline(kv.txn(txn)).await
    }

    /// After a failed compare on `key`: the `get` of the else branch says why.
    fn failed_compare(key: &str, expected: i64, resp: &TxnResponse) -> StorageError {
        let actual = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => Some(get.kvs().first().map(|kv| kv.mod_revision())),
            _ => None,
        });
        match actual.flatten() {
            Some(actual) => StorageError::Conflict {
                key: key.to_string(),
                expected,
                actual,
            },
            None => StorageError::NotFound(key.to_string()),
        }
    }

    /// The oldest revision etcd still has. etcd's "compacted" error does not say it, but a
    /// watch from revision 1 is cancelled with it. `None` if not known within a second.
    async fn compact_revision(&self) -> Option<i64> {
        let mut watch = self.client.watch_client();
        let probe = async {
            let mut stream = watch
                .watch("\0", Some(WatchOptions::new().with_start_revision(1)))
                .await
                .ok()?;
            while let Ok(Some(resp)) = stream.message().await {
                if resp.compact_revision() > 0 {
                    return Some(resp.compact_revision());
                }
                if resp.canceled() {
                    return None;
                }
            }
            None
        };
        tokio::time::timeout(Duration::from_secs(1), probe)
            .await
            .ok()
            .flatten()
    }
}

#[async_trait]
impl Backend for EtcdBackend {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let mut kv = self.client.kv_client();
        let resp = with_deadline(kv.get(key, None)).await?;
        Ok(resp.kvs().first().map(key_value))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: i64,
        revision: i64,
    ) -> Result<ListResult> {
        let start = match start_after {
            Some(after) => format!("{after}\0").into_bytes(),
            None => prefix.as_bytes().to_vec(),
        };
        let options = GetOptions::new()
            .with_range(prefix_end(prefix.as_bytes()))
            .with_limit(limit.max(0))
            .with_revision(revision);
        let mut kv = self.client.kv_client();
        let resp = match with_deadline(kv.get(start, Some(options))).await {
            Err(StorageError::Compacted { .. }) => {
                let compacted = self.compact_revision().await.unwrap_or(0);
                return Err(StorageError::Compacted {
                    requested: revision,
                    compacted,
                });
            }
            other => other?,
        };
        let items: Vec<KeyValue> = resp.kvs().iter().map(key_value).collect();
        let header_revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        // `count` is the number of keys in the whole range, this page included.
        let remaining = if resp.more() {
            resp.count() - items.len() as i64
        } else {
            0
        };
        Ok(ListResult {
            items,
            revision: if revision > 0 {
                revision
            } else {
                header_revision
            },
            more: resp.more(),
            remaining,
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(StorageError::AlreadyExists(key.to_string()));
        }
        Ok(header_revision(&resp))
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: i64) -> Result<i64> {
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key,
                CompareOp::Equal,
                expected_revision,
            )])
            .and_then([TxnOp::put(key, value, None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(Self::failed_compare(key, expected_revision, &resp));
        }
        Ok(header_revision(&resp))
    }

    async fn delete(&self, key: &str, expected_revision: i64) -> Result<i64> {
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key,
                CompareOp::Equal,
                expected_revision,
            )])
            .and_then([TxnOp::delete(key, None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(Self::failed_compare(key, expected_revision, &resp));
        }
        Ok(header_revision(&resp))
    }

    async fn watch(
        &self,
        prefix: &str,
        after_revision: i64,
    ) -> Result<BoxStream<'static, Result<StorageEvent>>> {
        let options = WatchOptions::new()
            .with_range(prefix_end(prefix.as_bytes()))
            .with_start_revision(after_revision + 1)
            .with_prev_key();
        let mut client = self.client.watch_client();
        let stream = with_deadline(client.watch(prefix, Some(options))).await?;
        tracing::debug!(prefix, after_revision, "etcd watch opened");
        let state = WatchState {
            stream: Some(stream),
            pending: Vec::new().into_iter(),
            requested: after_revision + 1,
        };
        Ok(stream::unfold(state, next_watch_event).boxed())
    }

    async fn current_revision(&self) -> Result<i64> {
        let mut kv = self.client.kv_client();
        // A count-only read of one key returns the store's revision in its header.
        let resp = with_deadline(kv.get("\0", Some(GetOptions::new().with_count_only()))).await?;
        resp.header()
            .map(|h| h.revision())
            .ok_or_else(|| StorageError::Unavailable("etcd response without header".into()))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut kv = self.client.kv_client();
        // Physical: return only once the compaction is applied, so that a read at an older
        // revision reliably fails afterwards.
        with_deadline(kv.compact(revision, Some(CompactionOptions::new().with_physical()))).await?;
        tracing::info!(revision, "compacted etcd");
        Ok(())
    }
}

/// The state of one watch stream between two items.
struct WatchState {
    /// `None` once the stream has ended (after yielding its final error).
    stream: Option<WatchStream>,
    /// Events of the last response not yet yielded.
    pending: std::vec::IntoIter<StorageEvent>,
    requested: i64,
}

/// Yields the next event; the last item of a broken or cancelled watch is an `Err`.
async fn next_watch_event(mut state: WatchState) -> Option<(Result<StorageEvent>, WatchState)> {
    loop {
        if let Some(event) = state.pending.next() {
            return Some((Ok(event), state));
        }
        let stream = state.stream.as_mut()?;
        let message = match tokio::time::timeout(PROGRESS_INTERVAL, stream.message()).await {
            Ok(message) => message,
            Err(_idle) => {
                if let Err(e) = stream.request_progress().await {
                    state.stream = None;
                    return Some((Err(unavailable(e)), state));
                }
                continue;
            }
        };
        let end = |state: WatchState, err| {
            Some((
                Err(err),
                WatchState {
                    stream: None,
                    ..state
                },
            ))
        };
        let resp = match message {
            Ok(Some(resp)) => resp,
            Ok(None) => {
                return end(
                    state,
                    StorageError::Unavailable("etcd closed the watch stream".into()),
                )
            }
            Err(e) => return end(state, map_error(e)),
        };
        if resp.compact_revision() > 0 {
            let err = StorageError::Compacted {
                requested: state.requested,
                compacted: resp.compact_revision(),
            };
            return end(state, err);
        }
        if resp.canceled() {
            let reason = format!("etcd cancelled the watch: {}", resp.cancel_reason());
            return end(state, StorageError::Unavailable(reason));
        }
        state.pending = translate(&resp).into_iter();
    }
}

/// etcd's events as ours; an empty, non-creation response is a progress notification.
fn translate(resp: &WatchResponse) -> Vec<StorageEvent> {
    if resp.events().is_empty() {
        if resp.created() {
            return Vec::new();
        }
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        return vec![StorageEvent {
            type_: EventType::Progress,
            key: String::new(),
            value: Vec::new(),
            prev_value: None,
            revision,
        }];
    }
    resp.events()
        .iter()
        .filter_map(|event| {
            let kv = event.kv()?;
            let prev_value = event.prev_kv().map(|p| p.value().to_vec());
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let revision = kv.mod_revision();
            Some(match event.event_type() {
                etcd_client::EventType::Put => StorageEvent {
                    type_: if kv.create_revision() == kv.mod_revision() {
                        EventType::Added
                    } else {
                        EventType::Modified
                    },
                    key,
                    value: kv.value().to_vec(),
                    prev_value,
                    revision,
                },
                etcd_client::EventType::Delete => StorageEvent {
                    type_: EventType::Deleted,
                    key,
                    value: prev_value.clone().unwrap_or_default(),
                    prev_value,
                    revision,
                },
            })
        })
        .collect()
}

fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        mod_revision: kv.mod_revision(),
        create_revision: kv.create_revision(),
    }
}

fn header_revision(resp: &TxnResponse) -> i64 {
    resp.header().map(|h| h.revision()).unwrap_or(0)
}

/// The first key after every key that starts with `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): to the end of the keyspace.
    vec![0]
}

async fn with_deadline<T>(
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(result) => result.map_err(map_error),
        Err(_) => Err(StorageError::Unavailable(format!(
            "etcd did not answer within {REQUEST_TIMEOUT:?}"
        ))),
    }
}

/// etcd's errors as ours: "compacted" is `Compacted` (the caller fills in revisions),
/// everything else means etcd cannot serve us now.
fn map_error(err: etcd_client::Error) -> StorageError {
    if let etcd_client::Error::GRpcStatus(status) = &err {
        if status.message().contains(COMPACTED_MESSAGE) {
            return StorageError::Compacted {
                requested: 0,
                compacted: 0,
            };
        }
    }
    unavailable(err)
}

fn unavailable(err: etcd_client::Error) -> StorageError {
    StorageError::Unavailable(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
