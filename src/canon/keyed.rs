//! The run's digest key. Every hash that decides whether two things are
//! equal (value words, row hashes, leaf digests, the checksums computed in a
//! database) is keyed with a secret drawn from the operating system once per
//! run. Sums of unkeyed hashes can be made to collide on purpose (a
//! generalised-birthday search finds rows whose digests add up alike in
//! seconds); with an unknown key nobody who writes the data can compute a
//! digest at all, so nobody can prepare rows that hide a change.

use std::sync::atomic::{AtomicPtr, Ordering};

/// Bytes of key material: XXH3 asks for at least 136.
const SECRET_LEN: usize = 192;

struct Secret {
    bytes: [u8; SECRET_LEN],
    /// 128 bits of it as 32 hex digits, for SQL digests.
    sql: String,
}

/// The run's key; null until first used. Each key is leaked (192 bytes),
/// so a reference to it stays valid whatever happens to the pointer.
static SECRET: AtomicPtr<Secret> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// A key this thread hashes with instead of the run's: a cluster
    /// executor hashes for runs of other processes, each under its own key.
    static THREAD_KEY: std::cell::Cell<Option<&'static Secret>> =
        const { std::cell::Cell::new(None) };
}

fn secret() -> &'static Secret {
    if let Some(secret) = THREAD_KEY.get() {
        return secret;
    }
    let current = SECRET.load(Ordering::Acquire);
    if !current.is_null() {
        // SAFETY: only pointers from `Box::leak` are stored, never freed.
        return unsafe { &*current };
    }
    let mut bytes = [0u8; SECRET_LEN];
    if getrandom::fill(&mut bytes).is_err() {
        fallback_fill(&mut bytes);
    }
    install(Secret::new(bytes))
}

/// Makes `secret` the run's key unless one is in place already; returns
/// the key in place.
fn install(secret: Secret) -> &'static Secret {
    let fresh: *mut Secret = Box::leak(Box::new(secret));
    match SECRET.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: `fresh` was just leaked; `other` was leaked by another call.
        Ok(_) => unsafe { &*fresh },
        Err(other) => unsafe { &*other },
    }
}

/// Forgets the run's key, so that the next comparison draws a new one or
/// adopts a stored one (`recon check` between its checks). Only while no
/// comparison is running in the process.
pub fn reset() {
    SECRET.store(std::ptr::null_mut(), Ordering::Release);
}

impl Secret {
    fn new(bytes: [u8; SECRET_LEN]) -> Self {
        let sql = super::to_hex(&bytes[..16]);
        Secret { bytes, sql }
    }
}

/// The run's key as hex, to be stored with digests that a later run (a
/// snapshot, `--state`) must reproduce. Whoever holds it can compute
/// digests, so it is written only where the digests themselves go.
pub fn exported() -> String {
    super::to_hex(&secret().bytes)
}

/// Makes `hex` (from [`exported`]) the run's key, so that digests stored by
/// an earlier run compare with this run's. Fails when it is not a key, or
/// when this process already hashed with another key (it cannot change once
/// used).
pub fn adopt(hex: &str) -> Result<(), String> {
    let bytes = decode(hex)?;
    let active = install(Secret::new(bytes));
    if active.bytes == bytes {
        Ok(())
    } else {
        Err("its digest key differs from the one this run already hashed with".into())
    }
}

/// Runs `work` on this thread with `hex` (from [`exported`]) as the key,
/// whatever the run's key is; work it hands to other threads does not see
/// it. Each distinct key is kept for the life of the process (192 bytes).
pub fn with_key<T>(hex: &str, work: impl FnOnce() -> T) -> Result<T, String> {
    static KEPT: std::sync::Mutex<Vec<&'static Secret>> = std::sync::Mutex::new(Vec::new());
    let bytes = decode(hex)?;
    let secret = {
        let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        match kept.iter().find(|s| s.bytes == bytes) {
            Some(secret) => *secret,
            None => {
                let secret: &'static Secret = Box::leak(Box::new(Secret::new(bytes)));
                kept.push(secret);
                secret
            }
        }
    };
    /// Puts the thread's previous key back, also when `work` panics.
    struct Restore(Option<&'static Secret>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_KEY.set(self.0);
        }
    }
    let _restore = Restore(THREAD_KEY.replace(Some(secret)));
    Ok(work())
}

/// Key bytes from [`exported`]'s hex.
fn decode(hex: &str) -> Result<[u8; SECRET_LEN], String> {
    super::from_hex(hex)
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| "the stored digest key is damaged".to_string())
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

    /// A keyed hasher for a stream of bytes (a file's content).
    pub fn streaming(self) -> xxhash_rust::xxh3::Xxh3 {
        xxhash_rust::xxh3::Xxh3::with_secret(*self.0)
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

    #[test]
    fn a_thread_can_hash_under_another_key_for_a_while() {
        let run = hash128(b"row");
        let other: String = exported().chars().rev().collect();
        let (inside, nested) = with_key(&other, || {
            (
                hash128(b"row"),
                with_key(&exported(), || hash128(b"row")).unwrap(),
            )
        })
        .unwrap();
        assert_ne!(inside, run);
        assert_eq!(nested, inside, "the thread's key is what `exported` gives");
        // Back to the run's key after, and the same other key hashes alike again.
        assert_eq!(hash128(b"row"), run);
        assert_eq!(with_key(&other, || hash128(b"row")).unwrap(), inside);
        // Another thread never sees it.
        let seen = with_key(&other, || {
            std::thread::spawn(|| hash128(b"row")).join().unwrap()
        });
        assert_eq!(seen.unwrap(), run);
        assert!(with_key("zz", || ()).is_err());
    }

    #[test]
    fn a_key_in_use_can_be_adopted_again_but_not_replaced() {
        let hex = exported();
        assert_eq!(hex.len(), 2 * SECRET_LEN);
        assert_eq!(adopt(&hex), Ok(()));
        let other: String = hex.chars().rev().collect();
        assert!(adopt(&other).is_err());
        assert!(adopt("zz").is_err());
        assert!(adopt(&hex[..10]).is_err());
    }
}
