//! The run's digest key. Every hash that decides whether two things are
//! equal (value words, row hashes, leaf digests, the checksums computed in a
//! database) is keyed with a secret drawn from the operating system once per
//! run. Sums of unkeyed hashes can be made to collide on purpose (a
//! generalised-birthday search finds rows whose digests add up alike in
//! seconds); with an unknown key nobody who writes the data can compute a
//! digest at all, so nobody can prepare rows that hide a change.

use std::sync::OnceLock;

/// Bytes of key material: XXH3 asks for at least 136.
const SECRET_LEN: usize = 192;

struct Secret {
    bytes: [u8; SECRET_LEN],
    /// 128 bits of it as 32 hex digits, for SQL digests.
    sql: String,
}

fn secret() -> &'static Secret {
    static SECRET: OnceLock<Secret> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut bytes = [0u8; SECRET_LEN];
        if getrandom::fill(&mut bytes).is_err() {
            fallback_fill(&mut bytes);
        }
        let sql = bytes[..16].iter().map(|b| format!("{b:02x}")).collect();
        Secret { bytes, sql }
    })
}

/// Where the operating system's generator cannot be reached: the standard
/// library's per-process random SipHash keys (themselves drawn from the
/// operating system when it can), stretched over the buffer.
fn fallback_fill(bytes: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(now);
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
}

/// The run's key, looked up once by loops that hash many values.
#[derive(Clone, Copy)]
pub struct Key(&'static [u8; SECRET_LEN]);

impl Key {
    /// The keyed 64-bit hash of one value's bytes.
    #[inline]
    pub fn hash64(self, bytes: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_secret(bytes, self.0)
    }

    /// The keyed 128-bit hash of a row's words.
    #[inline]
    pub fn hash128(self, bytes: &[u8]) -> u128 {
        xxhash_rust::xxh3::xxh3_128_with_secret(bytes, self.0)
    }
}

/// The run's key.
pub fn key() -> Key {
    Key(&secret().bytes)
}

/// The keyed 64-bit hash of one value's bytes.
pub fn hash64(bytes: &[u8]) -> u64 {
    key().hash64(bytes)
}

/// The keyed 128-bit hash of a row's words.
pub fn hash128(bytes: &[u8]) -> u128 {
    key().hash128(bytes)
}

/// The run's key for digests computed in SQL: 32 hex digits that every
/// row's MD5 starts with.
pub fn sql_secret() -> &'static str {
    &secret().sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_random_and_steady_within_a_run() {
        // Steady: the same bytes hash alike every time in one run.
        assert_eq!(hash64(b"value"), hash64(b"value"));
        assert_eq!(hash128(b"row"), hash128(b"row"));
        // Keyed: not the unkeyed hash anyone can compute in advance.
        assert_ne!(hash64(b"value"), xxhash_rust::xxh3::xxh3_64(b"value"));
        assert_ne!(hash128(b"row"), xxhash_rust::xxh3::xxh3_128(b"row"));
        assert_eq!(sql_secret().len(), 32);
        assert!(sql_secret().bytes().all(|b| b.is_ascii_hexdigit()));
        // Drawn, not fixed: 192 bytes with no more than a few repeats of a
        // byte value would be a miracle for a constant or a zeroed buffer.
        let distinct: std::collections::BTreeSet<u8> = secret().bytes.iter().copied().collect();
        assert!(distinct.len() > 64, "{} distinct bytes", distinct.len());
        let mut other = [0u8; SECRET_LEN];
        fallback_fill(&mut other);
        assert_ne!(other, secret().bytes);
    }
}
