//! Allocators for Service ClusterIPs and NodePorts.
//!
//! As upstream, each range is one bitmap stored in etcd (`/registry/ranges/serviceips`,
//! `/registry/ranges/servicenodeports`) and changed with a compare-and-swap on its
//! revision: two apiservers on one etcd can never hand out the same address, and the
//! allocations survive restarts. An address is marked before the Service is written and
//! released when the Service is deleted (or when its create fails).

use std::net::Ipv4Addr;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use crate::errors::{ApiError, Result};
use crate::storage::{Backend, StorageError};

/// A range of integers `[first, first + size)` with a bitmap of used offsets in etcd.
pub struct RangeAllocator {
    backend: Arc<dyn Backend>,
    key: String,
    /// Human description stored beside the bitmap, e.g. `10.0.0.0/24` or `30000-32767`.
    range: String,
    size: u32,
    /// Serialises this apiserver's read-modify-writes of the bitmap: concurrent creates
    /// here would otherwise all race on one etcd key and mostly lose (a hundred Services
    /// created at once exhausted the retries). Only other apiservers' writes can then
    /// conflict, and the compare-and-swap still guards against those.
    local: tokio::sync::Mutex<()>,
}

/// Compare-and-swap attempts before giving up, with a short jittered pause after a loss.
const CAS_ATTEMPTS: usize = 64;

impl RangeAllocator {
    pub fn new(backend: Arc<dyn Backend>, key: String, range: String, size: u32) -> RangeAllocator {
        RangeAllocator { backend, key, range, size, local: tokio::sync::Mutex::new(()) }
    }

    /// After losing a compare-and-swap to another apiserver: wait 1..10 ms, so that two
    /// apiservers do not retry in lockstep.
    async fn pause() {
        tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(1..10))).await;
    }

    /// Mark `offset` (when given) or a free offset chosen at random, and return it.
    /// `reserved_low` offsets at the start are only handed out when asked for by value.
    pub async fn allocate(&self, offset: Option<u32>, reserved_low: u32) -> Result<Option<u32>> {
        let _serialised = self.local.lock().await;
        for _ in 0..CAS_ATTEMPTS {
            let (mut bits, revision) = self.read().await?;
            let chosen = match offset {
                Some(o) => {
                    if o >= self.size {
                        return Err(ApiError::BadRequest(format!("provided value is not in the valid range {}", self.range)));
                    }
                    if is_set(&bits, o) {
                        return Ok(None);
                    }
                    o
                }
                None => match self.pick_free(&bits, reserved_low) {
                    Some(o) => o,
                    None => return Err(ApiError::Internal(format!("range {} is full", self.range))),
                },
            };
            set(&mut bits, chosen, true);
            match self.write(&bits, revision).await {
                Ok(()) => return Ok(Some(chosen)),
                Err(StorageError::Conflict { .. }) | Err(StorageError::AlreadyExists(_)) => Self::pause().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Internal(format!("could not allocate from {}: too much contention", self.range)))
    }

    /// Free `offset`.
    pub async fn release(&self, offset: u32) -> Result<()> {
        let _serialised = self.local.lock().await;
        for _ in 0..CAS_ATTEMPTS {
            let (mut bits, revision) = self.read().await?;
            if offset >= self.size || !is_set(&bits, offset) {
                return Ok(());
            }
            set(&mut bits, offset, false);
            match self.write(&bits, revision).await {
                Ok(()) => return Ok(()),
                Err(StorageError::Conflict { .. }) => Self::pause().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Internal(format!("could not release in {}: too much contention", self.range)))
    }

    fn pick_free(&self, bits: &[u8], reserved_low: u32) -> Option<u32> {
        let usable = self.size.saturating_sub(reserved_low);
        if usable == 0 {
            return None;
        }
        let start = rand::random_range(0..usable);
        (0..usable).map(|i| reserved_low + (start + i) % usable).find(|o| !is_set(bits, *o))
    }

    /// The bitmap and its revision (0 when it does not exist yet).
    async fn read(&self) -> Result<(Vec<u8>, i64)> {
        let len = self.size.div_ceil(8) as usize;
        match self.backend.get(&self.key).await? {
            None => Ok((vec![0; len], 0)),
            Some(kv) => {
                let v: Value = serde_json::from_slice(&kv.value).map_err(|e| ApiError::Internal(e.to_string()))?;
                let data = v.get("data").and_then(Value::as_str).unwrap_or("");
                let mut bits = base64::engine::general_purpose::STANDARD.decode(data).unwrap_or_default();
                bits.resize(len, 0);
                Ok((bits, kv.mod_revision))
            }
        }
    }

    async fn write(&self, bits: &[u8], revision: i64) -> Result<(), StorageError> {
        let value = serde_json::to_vec(&json!({
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "range": self.range,
            "data": base64::engine::general_purpose::STANDARD.encode(bits),
        }))
        .unwrap_or_default();
        if revision == 0 {
            self.backend.create(&self.key, value).await.map(|_| ())
        } else {
            self.backend.update(&self.key, value, revision).await.map(|_| ())
        }
    }
}

fn is_set(bits: &[u8], o: u32) -> bool {
    bits.get((o / 8) as usize).is_some_and(|b| b & (1 << (o % 8)) != 0)
}

fn set(bits: &mut [u8], o: u32, on: bool) {
    if let Some(b) = bits.get_mut((o / 8) as usize) {
        if on {
            *b |= 1 << (o % 8);
        } else {
            *b &= !(1 << (o % 8));
        }
    }
}

/// An IPv4 CIDR such as `10.0.0.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Some(Cidr { network: Ipv4Addr::from(u32::from(ip) & mask), prefix })
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
        u32::from(ip) & mask == u32::from(self.network)
    }

    /// The address at `offset` from the network address.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(offset))
    }

    pub fn offset_of(&self, ip: Ipv4Addr) -> Option<u32> {
        self.contains(ip).then(|| u32::from(ip) - u32::from(self.network))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// ClusterIPs from `--service-cluster-ip-range`. Offset 0 (the network address) and the
/// last (broadcast) are never used; offset 1 goes to the `kubernetes` Service.
pub struct ServiceIps {
    pub cidr: Cidr,
    bitmap: RangeAllocator,
}

impl ServiceIps {
    pub fn new(backend: Arc<dyn Backend>, prefix: &str, cidr: Cidr) -> ServiceIps {
        let size = cidr.size().min(1 << 20) as u32;
        let bitmap = RangeAllocator::new(backend, format!("{prefix}/ranges/serviceips"), cidr.to_string(), size);
        ServiceIps { cidr, bitmap }
    }

    /// The first address of the range: the `kubernetes` Service's.
    pub fn first(&self) -> Ipv4Addr {
        self.cidr.nth(1)
    }

    /// Allocate `requested` (must be free and in range) or any free address.
    pub async fn allocate(&self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let last = (self.cidr.size().min(1 << 20) as u32).saturating_sub(1);
        match requested {
            Some(ip) => {
                let offset = self
                    .cidr
                    .offset_of(ip)
                    .filter(|o| *o >= 1 && *o < last)
                    .ok_or_else(|| ApiError::BadRequest(format!("the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}", self.cidr)))?;
                match self.bitmap.allocate(Some(offset), 0).await? {
                    Some(_) => Ok(ip),
                    None => Err(ApiError::BadRequest(format!("failed to allocate IP {ip}: provided IP is already allocated"))),
                }
            }
            None => {
                // Never hand out the network address (0), nor the broadcast one: mark them
                // by skipping offset 0 and bounding the search below `last`.
                for _ in 0..64 {
                    if let Some(o) = self.bitmap.allocate(None, 2).await? {
                        if o < last {
                            return Ok(self.cidr.nth(o));
                        }
                        // Landed on the broadcast address: keep it marked (never usable) and retry.
                    }
                }
                Err(ApiError::Internal(format!("range {} is full", self.cidr)))
            }
        }
    }

    pub async fn release(&self, ip: Ipv4Addr) -> Result<()> {
        match self.cidr.offset_of(ip) {
            Some(o) => self.bitmap.release(o).await,
            None => Ok(()),
        }
    }
}

/// NodePorts from `--service-node-port-range` (30000-32767).
pub struct NodePorts {
    pub base: u16,
    pub last: u16,
    bitmap: RangeAllocator,
}

impl NodePorts {
    pub fn new(backend: Arc<dyn Backend>, prefix: &str, base: u16, last: u16) -> NodePorts {
        let size = (last - base) as u32 + 1;
        let bitmap = RangeAllocator::new(backend, format!("{prefix}/ranges/servicenodeports"), format!("{base}-{last}"), size);
        NodePorts { base, last, bitmap }
    }

    pub async fn allocate(&self, requested: Option<u16>) -> Result<u16> {
        match requested {
            Some(p) => {
                if p < self.base || p > self.last {
                    return Err(ApiError::BadRequest(format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        self.base, self.last
                    )));
                }
                match self.bitmap.allocate(Some((p - self.base) as u32), 0).await? {
                    Some(_) => Ok(p),
                    None => Err(ApiError::BadRequest(format!("provided port is already allocated: {p}"))),
                }
            }
            None => match self.bitmap.allocate(None, 0).await? {
                Some(o) => Ok(self.base + o as u16),
                None => Err(ApiError::Internal("node port range is full".into())),
            },
        }
    }

    pub async fn release(&self, port: u16) -> Result<()> {
        if port < self.base || port > self.last {
            return Ok(());
        }
        self.bitmap.release((port - self.base) as u32).await
    }
}

/// Parse `30000-32767`.
pub fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_masks() {
        let c = Cidr::parse("10.0.0.7/24").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/24");
        assert_eq!(c.size(), 256);
        assert_eq!(c.nth(1), Ipv4Addr::new(10, 0, 0, 1));
        assert!(c.contains(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 1, 0)));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn port_range_parses() {
        assert_eq!(parse_port_range("30000-32767"), Some((30000, 32767)));
        assert_eq!(parse_port_range("2-1"), None);
    }

    #[tokio::test]
    async fn service_ips_are_never_handed_out_twice() {
        let backend: Arc<dyn Backend> = Arc::new(crate::storage::memory::MemoryBackend::new());
        let ips = ServiceIps::new(backend, "/registry", Cidr::parse("10.0.0.0/29").unwrap());
        assert_eq!(ips.allocate(Some(ips.first())).await.unwrap(), Ipv4Addr::new(10, 0, 0, 1));
        assert!(ips.allocate(Some(ips.first())).await.is_err());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5 {
            let ip = ips.allocate(None).await.unwrap();
            assert!(seen.insert(ip), "{ip} handed out twice");
            assert!(ip != Ipv4Addr::new(10, 0, 0, 0) && ip != Ipv4Addr::new(10, 0, 0, 7));
        }
        assert!(ips.allocate(None).await.is_err(), "the /29 is full");
        ips.release(Ipv4Addr::new(10, 0, 0, 3)).await.unwrap();
        assert_eq!(ips.allocate(None).await.unwrap(), Ipv4Addr::new(10, 0, 0, 3));
    }
}
