//! Reading a member CSV (`name,email[,role]`) as a stream of rows, for `member import`.
//! A header row is recognised and skipped; blank lines are ignored.

use smartcore_app::MemberRow;
use std::io::{BufRead, BufReader, Read};

/// The file with each blank line turned into `,` (a record of empty fields, which [`rows`]
/// ignores) and CRLF line ends into LF: the CSV reader skips blank lines (and the LF of a CRLF)
/// and then reports the next record as starting on the line before, so a row's line number
/// would be off by the blank lines above it. Nothing
/// valid changes: a blank line inside a quoted field would be inside a name or an address,
/// which refuse line breaks anyway.
struct BlankLinesAsEmptyRecords<R> {
    inner: R,
    line: Vec<u8>,
    at: usize,
}

impl<R: BufRead> Read for BlankLinesAsEmptyRecords<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            self.line.clear();
            self.at = 0;
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(0);
            }
            // CRLF as LF: the reader's start of a record after a CR comes before the LF.
            if self.line.ends_with(b"\r\n") {
                self.line.truncate(self.line.len() - 2);
                self.line.push(b'\n');
            }
            if self.line == b"\n" {
                self.line.insert(0, b',');
            }
        }
        let n = out.len().min(self.line.len() - self.at);
        out[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Rows of the file, one at a time; a row that cannot be read becomes `Err((line, reason))`.
pub fn rows(reader: impl Read) -> impl Iterator<Item = Result<MemberRow, (u64, String)>> {
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(BlankLinesAsEmptyRecords {
            inner: BufReader::new(reader),
            line: Vec::new(),
            at: 0,
        });
    let mut last_line = 0;
    csv.into_records().filter_map(move |record| {
        // The file's own line where the record starts (a quoted field may span lines).
        let position = match &record {
            Ok(r) => r.position(),
            Err(e) => e.position(),
        };
        let line = position.map_or(last_line + 1, csv::Position::line);
        last_line = line;
        let record = match record {
            Ok(r) => r,
            Err(e) => return Some(Err((line, format!("unreadable row: {e}")))),
        };
        if record.iter().all(str::is_empty) {
            return None;
        }
        if line == 1
            && record
                .get(1)
                .is_some_and(|f| f.eq_ignore_ascii_case("email"))
        {
            return None;
        }
        if record.len() < 2 || record.len() > 3 {
            return Some(Err((
                line,
                format!(
                    "expected name,email[,role] but found {} fields",
                    record.len()
                ),
            )));
        }
        Some(Ok(MemberRow {
            line,
            name: record[0].to_owned(),
            email: record[1].to_owned(),
            role: record.get(2).map(str::to_owned),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_named_by_their_line_in_the_file_whatever_blank_lines_come_before() {
        let file = "name,email\r\nAda,ada@x.example\n\n\r\n\nbad row\n\"Multi\nline\",m@x.example\nGrace,g@x.example";
        let lines: Vec<u64> = rows(file.as_bytes())
            .map(|r| match r {
                Ok(row) => row.line,
                Err((line, _)) => line,
            })
            .collect();
        assert_eq!(lines, [2, 6, 7, 9]);
    }
}
