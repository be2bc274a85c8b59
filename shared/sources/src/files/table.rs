//! Reading one CSV file of a feed, shared by the OneRoster and Clever CSV readers: header
//! resolution (required and optional columns, case rules), strict row framing (ragged rows,
//! unterminated quotes, invalid UTF-8 are errors with `file:line`), and field access that turns
//! empty and oversized values into `None` (the latter with a warning).

use crate::SourceError;
use chrono::NaiveDate;
use domain::{Email, Grade, Issue, IssueCode, Location, Phone, parse_date};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Fields longer than this are dropped with a `field_too_long` warning.
pub(crate) const MAX_FIELD_BYTES: usize = 64 * 1024;

/// A column index, `None` when an optional column is absent from the header.
pub(crate) type Col = Option<usize>;

/// Hash maps keyed by ids: the inputs are a district's own files, so a fast non-keyed hash is
/// fine and keeps big feeds cheap.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// The Firefox/rustc hash (one multiply per word), with a final mix.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        // Multiplication only carries entropy upwards, and hashbrown indexes buckets by the low
        // bits: without this finaliser ids that differ only in their last bytes collide.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// A stable id for records the source gives no id (`contact:3f2a…`), from their identifying parts.
pub(crate) fn derived_id(prefix: &str, parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let digest = h.finalize();
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push(':');
    for b in &digest[..8] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A boolean as district exports write it: `true`/`false` (the OneRoster binding), or `1`/`0`,
/// `yes`/`no`, `y`/`n`, in any case. Anything else is `None` (the caller warns).
pub(crate) fn bool_word(value: &str) -> Option<bool> {
    let v = value.trim();
    ["true", "1", "yes", "y"]
        .iter()
        .any(|w| v.eq_ignore_ascii_case(w))
        .then_some(true)
        .or_else(|| {
            ["false", "0", "no", "n"]
                .iter()
                .any(|w| v.eq_ignore_ascii_case(w))
                .then_some(false)
        })
}

/// The non-empty, trimmed items of a comma-separated multi-value field.
pub(crate) fn list(value: Option<&str>) -> impl Iterator<Item = &str> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub(crate) fn error(
    code: IssueCode,
    location: Location,
    message: impl Into<String>,
) -> SourceError {
    SourceError::invalid(Issue::error(code, location, message))
}

/// One CSV file being read record by record.
pub(crate) struct Table<'a> {
    name: &'a str,
    /// The file's bytes after the BOM, to re-check the framing of suspicious records.
    bytes: &'a [u8],
    rdr: csv::Reader<&'a [u8]>,
    headers: Vec<String>,
    rec: csv::StringRecord,
    /// Byte offset up to which lines have been counted, and the 1-based line there.
    cursor: usize,
    cursor_line: u64,
    /// The line the current record starts on.
    rec_line: u64,
}

fn count_newlines(bytes: &[u8]) -> u64 {
    // Byte-wide sums over chunks short enough not to overflow vectorise well.
    bytes
        .chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

impl<'a> Table<'a> {
    /// Reads the header row. A UTF-8 BOM is skipped; an empty file has no columns.
    pub(crate) fn open(name: &'a str, bytes: &'a [u8]) -> Result<Self, SourceError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut table = Self {
            name,
            bytes,
            rdr,
            headers: Vec::new(),
            rec: csv::StringRecord::new(),
            cursor: 0,
            cursor_line: 1,
            rec_line: 1,
        };
        if let Some(row) = table.next_row_unchecked()? {
            let headers = row.rec.iter().map(|h| h.trim().to_string()).collect();
            table.headers = headers;
        }
        Ok(table)
    }

    /// At most how many data rows the file holds (its line count), to size maps and lists.
    pub(crate) fn rows_hint(&self) -> usize {
        usize::try_from(count_newlines(self.bytes)).unwrap_or(0) + 1
    }

    /// True when the file has no header row at all (zero bytes or only blank lines).
    pub(crate) fn has_no_header(&self) -> bool {
        self.headers.is_empty()
    }

    /// Starts resolving column names against the header.
    pub(crate) fn columns(&self, ignore_case: bool) -> Columns<'_> {
        Columns {
            file: self.name,
            headers: &self.headers,
            ignore_case,
            used: vec![false; self.headers.len()],
            asked: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The next data row, or an error if the file is malformed there.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row<'_>>, SourceError> {
        let width = self.headers.len();
        loop {
            if !self.read()? {
                return Ok(None);
            }
            // Empty fields after the last column (a stray trailing comma) hold nothing to lose.
            let trailing_empty =
                self.rec.len() > width && self.rec.iter().skip(width).all(|f| f.trim().is_empty());
            if self.rec.len() != width && !trailing_empty {
                if self.rec.len() == 1 && self.rec[0].trim().is_empty() {
                    continue; // a line of spaces
                }
                let line = self.rec_line;
                let message = format!(
                    "the row has {} fields but the header has {width}",
                    self.rec.len()
                );
                return Err(self.malformed(line, message));
            }
            let line = self.rec_line;
            return Ok(Some(Row {
                rec: &self.rec,
                headers: &self.headers,
                line,
                file: self.name,
            }));
        }
    }

    fn next_row_unchecked(&mut self) -> Result<Option<Row<'_>>, SourceError> {
        if !self.read()? {
            return Ok(None);
        }
        let line = self.rec_line;
        Ok(Some(Row {
            rec: &self.rec,
            headers: &self.headers,
            line,
            file: self.name,
        }))
    }

    /// Reads one record into `self.rec`, works out its line and checks its quoting.
    fn read(&mut self) -> Result<bool, SourceError> {
        match self.rdr.read_record(&mut self.rec) {
            Ok(false) => Ok(false),
            Ok(true) => {
                let len = self.bytes.len();
                let to_index = |b: u64| usize::try_from(b).unwrap_or(usize::MAX).min(len);
                let mut start = to_index(self.rec.position().map_or(0, csv::Position::byte));
                let end = to_index(self.rdr.position().byte()).max(start);
                // The csv crate may start a record at the previous line's `\n` (after `\r`)
                // and counts lines inconsistently with CRLF, so lines are counted here.
                while start < end && matches!(self.bytes[start], b'\r' | b'\n') {
                    start += 1;
                }
                // One pass over the record: its line, and whether it spans several lines.
                let from = self.cursor.min(start);
                let line = self.cursor_line + count_newlines(&self.bytes[from..start]);
                let raw = &self.bytes[start..end];
                let inside = count_newlines(raw);
                self.cursor = end;
                self.cursor_line = line + inside;
                self.rec_line = line;
                // A record spanning several lines, or the last one, may hide a quote that never
                // closed (the csv crate reads to the end of the file without complaint).
                let suspicious =
                    end >= len || inside > 1 || (inside == 1 && raw.last() != Some(&b'\n'));
                if suspicious && !quotes_balanced(raw) {
                    return Err(self.malformed(
                        line,
                        "a quoted field is not closed properly (an unterminated quote, or text after a closing quote)",
                    ));
                }
                Ok(true)
            }
            Err(e) => Err(self.csv_error(&e)),
        }
    }

    /// The line of the record starting at byte `at` (for errors: counts from the cursor).
    fn line_at(&self, at: u64) -> u64 {
        let len = self.bytes.len();
        let mut start = usize::try_from(at).unwrap_or(usize::MAX).min(len);
        while start < len && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.cursor {
            return self.cursor_line;
        }
        self.cursor_line + count_newlines(&self.bytes[self.cursor..start])
    }

    fn malformed(&self, line: u64, message: impl Into<String>) -> SourceError {
        error(
            IssueCode::MalformedCsv,
            Location::at(self.name, line, None),
            message,
        )
    }

    fn csv_error(&self, e: &csv::Error) -> SourceError {
        match e.kind() {
            csv::ErrorKind::Utf8 { pos, err } => error(
                IssueCode::InvalidUtf8,
                Location::at(
                    self.name,
                    self.line_at(pos.as_ref().map_or(0, csv::Position::byte)),
                    Some(err.field() as u64 + 1),
                ),
                "the field is not valid UTF-8 (save the file as UTF-8)",
            ),
            other => {
                let line = self.line_at(e.position().map_or(0, csv::Position::byte));
                self.malformed(line, format!("the CSV cannot be parsed: {other:?}"))
            }
        }
    }
}

/// Checks RFC 4180 quoting of one raw record: every quoted field closes, and a closing quote is
/// followed by a delimiter or the end of the record.
fn quotes_balanced(raw: &[u8]) -> bool {
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_quotes {
            if b == b'"' {
                if raw.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                in_quotes = false;
                if !matches!(raw.get(i + 1), None | Some(b',' | b'\r' | b'\n')) {
                    return false;
                }
            }
        } else {
            if b == b'"' && at_field_start {
                in_quotes = true;
            }
            at_field_start = matches!(b, b',' | b'\r' | b'\n');
        }
        i += 1;
    }
    !in_quotes
}

/// Resolves column names against a header, collecting every missing required column.
pub(crate) struct Columns<'t> {
    file: &'t str,
    headers: &'t [String],
    ignore_case: bool,
    used: Vec<bool>,
    asked: Vec<String>,
    errors: Vec<Issue>,
}

impl Columns<'_> {
    fn position(&self, name: &str) -> Col {
        if self.ignore_case {
            self.headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
        } else {
            self.headers.iter().position(|h| h == name)
        }
    }

    /// An optional column: the first of `names` (aliases) present in the header.
    pub(crate) fn opt_any(&mut self, names: &[&str]) -> Col {
        for name in names {
            self.asked.push((*name).to_string());
        }
        let col = names.iter().find_map(|n| self.position(n));
        if let Some(i) = col {
            self.used[i] = true;
        }
        col
    }

    pub(crate) fn opt(&mut self, name: &str) -> Col {
        self.opt_any(&[name])
    }

    /// A required column: the first of `names` present; when none is, a `missing_column` error
    /// naming the first (the canonical header) is recorded.
    pub(crate) fn req_any(&mut self, names: &[&str]) -> Col {
        let col = self.opt_any(names);
        if col.is_none() {
            let expected = names.first().copied().unwrap_or_default();
            let found = self
                .headers
                .iter()
                .find(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)));
            let message = match found {
                Some(h) => format!(
                    "required column `{expected}` is missing (found `{h}`; header names are case-sensitive)"
                ),
                None => format!("required column `{expected}` is missing from the header"),
            };
            self.errors.push(Issue::error(
                IssueCode::MissingColumn,
                Location::at(self.file, 1, None),
                message,
            ));
        }
        col
    }

    pub(crate) fn req(&mut self, name: &str) -> Col {
        self.req_any(&[name])
    }

    /// Columns whose name satisfies `select` (which returns a sort key), sorted by that key.
    pub(crate) fn matching(&mut self, select: impl Fn(&str) -> Option<u32>) -> Vec<usize> {
        let mut found: Vec<(u32, usize)> = self
            .headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| select(h).map(|k| (k, i)))
            .collect();
        found.sort_unstable();
        for &(_, i) in &found {
            self.used[i] = true;
        }
        found.into_iter().map(|(_, i)| i).collect()
    }

    /// Ends resolution: missing required columns go to `errors`; unused columns that differ from
    /// a known one only by case become `unknown_column` warnings (their values are ignored).
    pub(crate) fn finish(self, errors: &mut Vec<Issue>, warnings: &mut Vec<Issue>) {
        for (i, h) in self.headers.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            if let Some(known) = self.asked.iter().find(|a| a.eq_ignore_ascii_case(h)) {
                warnings.push(Issue::warning(
                    IssueCode::UnknownColumn,
                    Location::at(self.file, 1, Some(i as u64 + 1)),
                    format!(
                        "column `{h}` is not a known header (header names are case-sensitive: `{known}`); its values are ignored"
                    ),
                ));
            }
        }
        errors.extend(self.errors);
    }
}

/// `YYYY-MM-DD` (all digits), what [`parse_date`] makes of it; `None` for any other shape (then
/// ask `parse_date`). Saves chrono's format-string interpretation on every date of a big file.
#[inline]
fn iso_date(raw: &str) -> Option<Option<NaiveDate>> {
    let b = raw.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    Some(NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d))
}

/// `v` without leading and trailing whitespace. Nearly every value starts and ends with a
/// visible ASCII character: that is checked on two bytes, and only the rest goes through the
/// (Unicode) `str::trim`.
#[inline]
fn trimmed(v: &str) -> &str {
    let b = v.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => v,
        _ => v.trim(),
    }
}

/// One data row, borrowed from its [`Table`].
pub(crate) struct Row<'r> {
    rec: &'r csv::StringRecord,
    headers: &'r [String],
    pub(crate) line: u64,
    pub(crate) file: &'r str,
}

impl<'r> Row<'r> {
    /// The trimmed value of `col`; `None` when the column is absent or the value empty, or too
    /// long (then with a `field_too_long` warning).
    #[inline]
    pub(crate) fn get(&self, col: Col, warnings: &mut Vec<Issue>) -> Option<&'r str> {
        let value = trimmed(self.rec.get(col?)?);
        if value.is_empty() {
            return None;
        }
        if value.len() > MAX_FIELD_BYTES {
            warnings.push(Issue::warning(
                IssueCode::FieldTooLong,
                self.loc(col),
                format!("the value is longer than {MAX_FIELD_BYTES} bytes; it is ignored"),
            ));
            return None;
        }
        Some(value)
    }

    pub(crate) fn loc(&self, col: Col) -> Location {
        Location::at(self.file, self.line, col.map(|c| c as u64 + 1))
    }

    pub(crate) fn warn(
        &self,
        warnings: &mut Vec<Issue>,
        code: IssueCode,
        col: Col,
        message: impl Into<String>,
    ) {
        warnings.push(Issue::warning(code, self.loc(col), message));
    }

    /// The header name of `col`, for messages.
    pub(crate) fn header(&self, col: Col) -> &'r str {
        col.and_then(|c| self.headers.get(c))
            .map_or("?", String::as_str)
    }

    pub(crate) fn email(&self, col: Col, w: &mut Vec<Issue>) -> Option<Email> {
        let raw = self.get(col, w)?;
        let parsed = Email::parse(raw);
        if parsed.is_none() {
            let h = self.header(col);
            self.warn(
                w,
                IssueCode::InvalidEmail,
                col,
                format!(
                    "`{h}` is not an email address (expected local@domain); the value is ignored"
                ),
            );
        }
        parsed
    }

    pub(crate) fn phone(&self, col: Col, w: &mut Vec<Issue>) -> Option<Phone> {
        let raw = self.get(col, w)?;
        let parsed = Phone::parse(raw);
        if parsed.is_none() {
            let h = self.header(col);
            self.warn(
                w,
                IssueCode::UnusablePhone,
                col,
                format!(
                    "`{h}` is not a usable phone number (expected 10 digits, or + and 8 to 15 digits); the value is ignored"
                ),
            );
        }
        parsed
    }

    /// The first grade of a (possibly multi-valued) grade field.
    pub(crate) fn grade(&self, col: Col, w: &mut Vec<Issue>) -> Option<Grade> {
        let raw = list(self.get(col, w)).next()?;
        // A range (`9-12`, Clever's section grades) is read as its lower bound, as Clever does.
        let parsed = Grade::parse(raw).or_else(|| {
            let (low, high) = raw.split_once('-')?;
            Grade::parse(high.trim())?;
            Grade::parse(low.trim())
        });
        if parsed.is_none() {
            let h = self.header(col);
            self.warn(
                w,
                IssueCode::UnknownEnumValue,
                col,
                format!("`{h}` is not a known grade (a CEDS code such as KG or 01); the value is ignored"),
            );
        }
        parsed
    }

    pub(crate) fn date(&self, col: Col, w: &mut Vec<Issue>) -> Option<NaiveDate> {
        let raw = self.get(col, w)?;
        let parsed = iso_date(raw).unwrap_or_else(|| parse_date(raw));
        if parsed.is_none() {
            let h = self.header(col);
            self.warn(
                w,
                IssueCode::MalformedDate,
                col,
                format!("`{h}` is not a date (expected YYYY-MM-DD, M/D/YYYY or M/D/YY); the value is ignored"),
            );
        }
        parsed
    }

    /// A required value: `None` with a `missing_value` warning when empty.
    pub(crate) fn need(&self, col: Col, w: &mut Vec<Issue>, consequence: &str) -> Option<&'r str> {
        let v = self.get(col, w);
        if v.is_none() {
            let h = self.header(col);
            self.warn(
                w,
                IssueCode::MissingValue,
                col,
                format!("`{h}` is empty; {consequence}"),
            );
        }
        v
    }

    /// Warns that `col` holds none of `expected`.
    pub(crate) fn bad_enum(&self, col: Col, w: &mut Vec<Issue>, expected: &str, consequence: &str) {
        let h = self.header(col);
        self.warn(
            w,
            IssueCode::UnknownEnumValue,
            col,
            format!("`{h}` is not one of {expected}; {consequence}"),
        );
    }

    pub(crate) fn duplicate(&self, col: Col, w: &mut Vec<Issue>) {
        let h = self.header(col);
        self.warn(
            w,
            IssueCode::DuplicateId,
            col,
            format!("`{h}` repeats an earlier row; this row is ignored (the first wins)"),
        );
    }

    pub(crate) fn dangling(&self, col: Col, w: &mut Vec<Issue>, what: &str, consequence: &str) {
        let h = self.header(col);
        self.warn(
            w,
            IssueCode::DanglingReference,
            col,
            format!("`{h}` names no {what}; {consequence}"),
        );
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn trimmed_is_str_trim() {
        for v in [
            "",
            " ",
            "x",
            " x",
            "x ",
            "\tx\r",
            "a b",
            "\u{a0}x\u{a0}",
            "é",
            " é ",
            "x\u{2003}",
            "\u{feff}x",
        ] {
            assert_eq!(super::trimmed(v), v.trim(), "{v:?}");
        }
    }
    use super::*;

    fn rows(csv: &str) -> Result<Vec<(u64, Vec<String>)>, String> {
        let mut t = Table::open("t.csv", csv.as_bytes()).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(r) = t.next_row().map_err(|e| e.to_string())? {
            out.push((r.line, r.rec.iter().map(str::to_string).collect()));
        }
        Ok(out)
    }

    #[test]
    fn framing() {
        assert_eq!(
            rows("a,b\r\n1,2\r\n\r\n3,\"x\ny\"\r\n4,5").unwrap(),
            vec![
                (2, vec!["1".into(), "2".into()]),
                (4, vec!["3".into(), "x\ny".into()]),
                (6, vec!["4".into(), "5".into()]),
            ]
        );
        assert_eq!(
            rows("a,b\n1,\"2\"\"\"\n").unwrap(),
            vec![(2, vec!["1".into(), "2\"".into()])]
        );
        let err = rows("a,b\n1,\"x\n2,y\n").unwrap_err();
        assert!(err.starts_with("the feed is invalid: t.csv:2:"), "{err}");
        let err = rows("a,b\n1,\"x\n2,y\n3,\"z\"\n").unwrap_err();
        assert!(err.starts_with("the feed is invalid: t.csv:2:"), "{err}");
        let err = rows("a,b\n1,2,3\n").unwrap_err();
        assert!(err.contains("t.csv:2: the row has 3 fields"), "{err}");
        assert_eq!(rows("a,b\n1,\"2\"").unwrap().len(), 1);
    }

    #[test]
    fn iso_dates_agree_with_parse_date() {
        for raw in [
            "2017-08-13",
            "2017-02-30",
            "2017-00-10",
            "2017-13-01",
            "0000-01-01",
            "2017-08-13x",
            "2017-8-13",
            "2017-08-1",
            "+017-08-13",
            "2017/08/13",
            "20170813",
            "8/13/2017",
            "",
        ] {
            let fast = iso_date(raw).unwrap_or_else(|| parse_date(raw));
            assert_eq!(fast, parse_date(raw), "{raw:?}");
        }
        assert_eq!(count_newlines(&b"a\nb\n".repeat(300)), 600);
    }

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(derived_id("x", &["a", "b"]), derived_id("x", &["a", "b"]));
        assert_ne!(derived_id("x", &["a", "b"]), derived_id("x", &["ab", ""]));
        assert_eq!(derived_id("x", &["a"]).len(), 18);
    }
}
