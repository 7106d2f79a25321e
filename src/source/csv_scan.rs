//! Where CSV records and fields end, found 64 bytes at a time, as bit masks
//! (one bit per byte), the way SIMD JSON and CSV parsers do it: compare each
//! block with the quote, delimiter and terminator bytes, turn the quote bits
//! into an "inside quotes" mask with a prefix XOR, and keep the delimiters
//! and terminators outside quotes. Finding a record then costs a few bit
//! operations instead of a pass of a byte-by-byte state machine.
//!
//! The quote parity reproduces arrow-csv's parser (csv-core: `"` quotes,
//! `""` inside quotes is one quote, `\r`, `\n` and `\r\n` end records, empty
//! lines are skipped) only when every quote stands where that parser treats
//! it as a quote: opening at the start of a field, closing before a
//! delimiter, a terminator, another quote or the end of the file. A file
//! with a quote elsewhere (`ab"c`, literal to csv-core) is refused by
//! [`index_chunk`], and its source is read the general way.

/// The quote byte: csv-core's default, which DataFusion keeps.
pub const QUOTE: u8 = b'"';

/// Per byte of `needles`, the bits set where the block holds it: 16 bytes
/// at a time with SSE2 (part of every x86-64 processor).
#[cfg(target_arch = "x86_64")]
#[inline]
fn masks<const N: usize>(block: &[u8; 64], needles: [u8; N]) -> [u64; N] {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut out = [0u64; N];
    for lane in 0..4 {
        // SAFETY: SSE2 is in the x86-64 baseline, so these instructions
        // exist on every processor this code runs on; the load reads bytes
        // lane*16..lane*16+16 of a 64-byte array, unaligned.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(lane * 16).cast());
            for (mask, &needle) in out.iter_mut().zip(&needles) {
                let equal = _mm_cmpeq_epi8(v, _mm_set1_epi8(needle as i8));
                *mask |= (_mm_movemask_epi8(equal) as u16 as u64) << (lane * 16);
            }
        }
    }
    out
}

/// Per byte of `needles`, the bits set where the block holds it.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn masks<const N: usize>(block: &[u8; 64], needles: [u8; N]) -> [u64; N] {
    let mut out = [0u64; N];
    for (i, &b) in block.iter().enumerate() {
        for (mask, &needle) in out.iter_mut().zip(&needles) {
            *mask |= ((b == needle) as u64) << i;
        }
    }
    out
}

/// Bit `i` is the XOR of bits `0..=i`: set from an opening quote up to the
/// byte before its closing quote.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The blocks of `bytes`, 64 bytes each, the last padded with zeros, with
/// the bits that stand for bytes of `bytes`.
fn blocks(bytes: &[u8]) -> impl Iterator<Item = (std::borrow::Cow<'_, [u8; 64]>, u64)> {
    let (full, rest) = bytes.as_chunks::<64>();
    let tail = (!rest.is_empty()).then(|| {
        let mut block = [0u8; 64];
        block[..rest.len()].copy_from_slice(rest);
        (std::borrow::Cow::Owned(block), (1u64 << rest.len()) - 1)
    });
    full.iter()
        .map(|block| (std::borrow::Cow::Borrowed(block), u64::MAX))
        .chain(tail)
}

/// The structure of a buffer that starts at a record start (outside quotes):
/// per block of 64 bytes, the delimiters and terminators outside quotes.
pub struct Structure {
    delims: Vec<u64>,
    terms: Vec<u64>,
    len: usize,
}

impl Structure {
    pub fn scan(bytes: &[u8], delimiter: u8) -> Self {
        let count = bytes.len().div_ceil(64);
        let mut delims = Vec::with_capacity(count);
        let mut terms = Vec::with_capacity(count);
        let mut inside = 0u64;
        for (block, valid) in blocks(bytes) {
            let [q, d, n, r] = masks(&block, [QUOTE, delimiter, b'\n', b'\r']);
            let quoted = prefix_xor(q) ^ inside;
            inside = ((quoted as i64) >> 63) as u64;
            delims.push(d & !quoted & valid);
            terms.push((n | r) & !quoted & valid);
        }
        Structure {
            delims,
            terms,
            len: bytes.len(),
        }
    }

    /// The first position at or after `from` set in `masks`.
    fn next_in(masks: &[u64], from: usize) -> Option<usize> {
        let mut word = from / 64;
        let mut bits = *masks.get(word)? & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            bits = *masks.get(word)?;
        }
    }

    fn is_term(&self, at: usize) -> bool {
        self.terms[at / 64] >> (at % 64) & 1 == 1
    }

    /// Delimiters outside quotes in `from..to`.
    fn delims_in(&self, from: usize, to: usize) -> usize {
        if from >= to {
            return 0;
        }
        let (first, last) = (from / 64, (to - 1) / 64);
        let mut count = 0;
        for word in first..=last {
            let mut bits = self.delims[word];
            if word == first {
                bits &= u64::MAX << (from % 64);
            }
            if word == last && !to.is_multiple_of(64) {
                bits &= (1u64 << (to % 64)) - 1;
            }
            count += bits.count_ones() as usize;
        }
        count
    }

    /// The records, in order: the span of each (its terminator left out),
    /// with the spans of its first `lead` fields and its field count.
    pub fn records(&self, lead: usize) -> Records<'_> {
        Records {
            structure: self,
            at: 0,
            lead,
            fields: Vec::with_capacity(lead),
        }
    }
}

/// A record found by [`Structure::records`].
pub struct Record<'a> {
    pub span: std::ops::Range<usize>,
    /// The first fields' spans (fewer when the record has fewer fields).
    pub fields: &'a [std::ops::Range<usize>],
    pub field_count: usize,
}

pub struct Records<'a> {
    structure: &'a Structure,
    at: usize,
    lead: usize,
    fields: Vec<std::ops::Range<usize>>,
}

impl Records<'_> {
    /// The next record (a lending iterator: the fields are reused).
    pub fn next_record(&mut self) -> Option<Record<'_>> {
        let s = self.structure;
        while self.at < s.len && s.is_term(self.at) {
            self.at += 1;
        }
        if self.at >= s.len {
            return None;
        }
        let start = self.at;
        let end = Structure::next_in(&s.terms, start).unwrap_or(s.len);
        self.at = end + 1;
        self.fields.clear();
        let mut field_start = start;
        while self.fields.len() < self.lead {
            match Structure::next_in(&s.delims, field_start).filter(|&d| d < end) {
                Some(d) => {
                    self.fields.push(field_start..d);
                    field_start = d + 1;
                }
                None => {
                    self.fields.push(field_start..end);
                    field_start = end + 1;
                    break;
                }
            }
        }
        let field_count = if field_start > end {
            self.fields.len()
        } else {
            self.fields.len() + 1 + s.delims_in(field_start, end)
        };
        Some(Record {
            span: start..end,
            fields: &self.fields,
            field_count,
        })
    }
}

/// What one chunk of a file holds, for both states a chunk can start in
/// (outside or inside quotes: known only once the chunks before it are
/// counted).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkIndex {
    /// Quotes in the chunk are odd: the next chunk starts in the other state.
    pub flips: bool,
    /// Per start state (0 outside quotes, 1 inside): records starting in
    /// the chunk, the first one's offset, and whether every quote stands
    /// where csv-core treats it as a quote.
    pub starts: [u64; 2],
    pub first: [Option<usize>; 2],
    pub valid: [bool; 2],
}

/// Indexes one chunk of a file, given the bytes on each side of it (`None`
/// at the data's start or the file's end). `after_term`: the byte before
/// the chunk is a terminator, or the chunk starts the data (its first byte
/// then starts a record). Offsets are relative to the chunk's first byte.
pub fn index_chunk(
    before: Option<u8>,
    chunk: &[u8],
    after: Option<u8>,
    delimiter: u8,
    after_term: bool,
) -> ChunkIndex {
    let mut out = ChunkIndex {
        valid: [true; 2],
        ..ChunkIndex::default()
    };
    let is_sep = |b: u8| b == delimiter || b == b'\n' || b == b'\r' || b == QUOTE;
    // Carried between blocks: the previous block's last separator bit, the
    // last unquoted-terminator bit per state, and the quote state.
    let mut prev_sep = before.is_none_or(is_sep) as u64;
    // Inside quotes, the byte before the chunk cannot have ended a record.
    let mut prev_term = [after_term as u64, 0];
    let mut inside = [0u64, u64::MAX];
    let next_block_sep = |b: usize| -> u64 {
        match chunk.get((b + 1) * 64) {
            Some(&byte) => is_sep(byte) as u64,
            None if (b + 1) * 64 == chunk.len() => after.is_none_or(is_sep) as u64,
            None => 0,
        }
    };
    let mut quotes = 0u32;
    for (b, (block, valid)) in blocks(chunk).enumerate() {
        let [q, d, n, r] = masks(&block, [QUOTE, delimiter, b'\n', b'\r']);
        let term = n | r;
        let sep = (d | term | q) & valid;
        // The byte after the chunk's last byte, for a closing quote there.
        let end_bit = if valid == u64::MAX {
            next_block_sep(b) << 63
        } else {
            after.is_none_or(is_sep) as u64 * ((valid >> 1) + 1)
        };
        let sep_before = (sep << 1) | prev_sep;
        let sep_after = (sep >> 1) | end_bit;
        prev_sep = sep >> 63;
        quotes += q.count_ones();
        let parity = prefix_xor(q);
        for state in 0..2 {
            let quoted = parity ^ inside[state];
            inside[state] = ((quoted as i64) >> 63) as u64;
            let opening = q & quoted;
            let closing = q & !quoted;
            if opening & !sep_before != 0 || closing & !sep_after != 0 {
                out.valid[state] = false;
            }
            let unquoted_term = term & !quoted & valid;
            let starts = ((unquoted_term << 1) | prev_term[state]) & !term & valid;
            prev_term[state] = unquoted_term >> 63;
            if starts != 0 {
                out.first[state].get_or_insert(b * 64 + starts.trailing_zeros() as usize);
                out.starts[state] += starts.count_ones() as u64;
            }
        }
    }
    out.flips = !quotes.is_multiple_of(2);
    out
}

/// Removes a field's quotes (`"a""b"` is `a"b`), for header names.
pub fn unquote(field: &[u8]) -> Vec<u8> {
    match field {
        [QUOTE, inner @ .., QUOTE] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut i = 0;
            while i < inner.len() {
                out.push(inner[i]);
                i += if inner[i] == QUOTE { 2 } else { 1 };
            }
            out
        }
        _ => field.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str, lead: usize) -> Vec<(String, Vec<String>, usize)> {
        let s = Structure::scan(text.as_bytes(), b',');
        let mut it = s.records(lead);
        let mut out = Vec::new();
        while let Some(r) = it.next_record() {
            out.push((
                text[r.span.clone()].to_string(),
                r.fields
                    .iter()
                    .map(|f| text[f.clone()].to_string())
                    .collect(),
                r.field_count,
            ));
        }
        out
    }

    #[test]
    fn records_skip_empty_lines_and_keep_quoted_terminators() {
        let long = "x".repeat(70);
        let text = format!("a,b,c\r\n\n\"q,\n\"\"r\",{long},\"\"\n1,,\n\"end\"");
        let r = records(&text, 2);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], ("a,b,c".into(), vec!["a".into(), "b".into()], 3));
        assert_eq!(r[1].1, vec!["\"q,\n\"\"r\"".to_string(), long.clone()]);
        assert_eq!(r[1].2, 3);
        assert_eq!(r[2], ("1,,".into(), vec!["1".into(), "".into()], 3));
        assert_eq!(r[3], ("\"end\"".into(), vec!["\"end\"".into()], 1));
    }

    /// The chunk index agrees with the record scan, whatever the chunk cuts.
    #[test]
    fn chunks_count_the_record_starts_of_the_whole() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!(
                "{i},\"a,\n{}\",x{}\r\n",
                "\"\"".repeat(i % 3),
                i % 7
            ));
            if i % 50 == 0 {
                text.push('\n');
            }
        }
        let bytes = text.as_bytes();
        let whole = records(&text, 0).len() as u64;
        for size in [1usize, 7, 63, 64, 65, 200, 4096] {
            let (mut state, mut total) = (0usize, 0u64);
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + size).min(bytes.len());
                let c = index_chunk(
                    at.checked_sub(1).map(|i| bytes[i]),
                    &bytes[at..end],
                    bytes.get(end).copied(),
                    b',',
                    at == 0 || matches!(bytes[at - 1], b'\n' | b'\r'),
                );
                assert!(c.valid[state], "size {size} at {at}");
                total += c.starts[state];
                state ^= c.flips as usize;
                at = end;
            }
            assert_eq!(total, whole, "chunks of {size}");
        }
    }

    #[test]
    fn quotes_where_csv_core_reads_them_literally_are_refused() {
        for bad in ["a,b\"c\n", "\"a\"b,c\n", "a\"\n"] {
            let c = index_chunk(None, bad.as_bytes(), None, b',', true);
            assert!(!c.valid[0], "{bad:?}");
        }
        for good in ["\"a\"\"b\",\"\"\n", "\"a\"\r\n\"b\""] {
            let c = index_chunk(None, good.as_bytes(), None, b',', true);
            assert!(c.valid[0], "{good:?}");
        }
        assert_eq!(unquote(b"\"a\"\"b\""), b"a\"b");
        assert_eq!(unquote(b"id"), b"id");
    }
}
