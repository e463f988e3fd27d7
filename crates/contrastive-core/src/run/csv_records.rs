//! Delimited records with the line each starts on, for every table the project reads: CSV
//! with RFC 4180 quoting (SimCLR's `labels.csv`, SimCSE's NLI files) and TSV without quoting
//! (STS-B, SICK, SentEval, caption files: their sentences hold unbalanced quotes, and the
//! reference readers take them verbatim). One reader, so blank rows and the `file:line` of an
//! error work alike everywhere. The text comes from [`super::text_file::read_text`] (gzip,
//! UTF-8, no byte-order mark).

/// A CSV record: the 1-based line it starts on and its fields.
pub type CsvRecord = (usize, Vec<String>);

/// Splits CSV text into records. Quoted fields may hold commas, doubled quotes and line
/// breaks. An error gives the line and what is wrong.
pub fn parse_csv(text: &str) -> Result<Vec<CsvRecord>, (usize, String)> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = text.chars().peekable();
    let mut field_started = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() && !field_started => {
                let opened_on = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                        None => {
                            return Err((opened_on, "a quoted field is never closed".into()));
                        }
                    }
                }
                field_started = true;
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(other) => {
                        return Err((line, format!("`{other}` after a closing quote")));
                    }
                }
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                field_started = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((record_line, std::mem::take(&mut fields)));
                field_started = false;
                line += 1;
                record_line = line;
            }
            '"' => return Err((line, "a quote inside an unquoted field".into())),
            other => {
                field.push(other);
                field_started = true;
            }
        }
    }
    if field_started || !fields.is_empty() {
        fields.push(field);
        records.push((record_line, fields));
    }
    Ok(records)
}

/// Splits tab-separated text into records, one per line, fields verbatim (no quoting).
pub fn parse_tsv(text: &str) -> Vec<CsvRecord> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.split('\t').map(str::to_string).collect()))
        .collect()
}

/// Whether a record is a blank line (one field of white space), which readers skip.
pub fn is_blank(fields: &[String]) -> bool {
    matches!(fields, [only] if only.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let text = "a,b\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",z";
        let records = parse_csv(text).unwrap();
        assert_eq!(
            records,
            vec![
                (1, vec!["a".to_string(), "b".into()]),
                (2, vec!["x, y".to_string(), "say \"hi\"".into()]),
                (3, vec!["two\nlines".to_string(), "z".into()]),
            ]
        );
    }

    #[test]
    fn tab_separated_fields_keep_quotes_verbatim_and_blank_lines_are_marked() {
        let records = parse_tsv("a\t\"b\r\n\n\"open\tc\td\n");
        assert_eq!(
            records,
            vec![
                (1, vec!["a".to_string(), "\"b".into()]),
                (2, vec![String::new()]),
                (3, vec!["\"open".to_string(), "c".into(), "d".into()]),
            ]
        );
        assert!(is_blank(&records[1].1) && !is_blank(&records[0].1));
    }

    /// RFC 4180 quoting of a record: every field quoted, quotes doubled.
    fn encode(record: &[String]) -> String {
        record
            .iter()
            .map(|field| format!("\"{}\"", field.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    }

    proptest::proptest! {
        #[test]
        fn any_quoted_records_parse_back_to_their_fields(
            records in proptest::collection::vec(
                proptest::collection::vec("[^\r]{0,12}", 1..4),
                1..6,
            )
        ) {
            let text = records.iter().map(|r| encode(r)).collect::<Vec<_>>().join("\n");
            let parsed = parse_csv(&text).unwrap();
            let fields: Vec<Vec<String>> = parsed.into_iter().map(|(_, f)| f).collect();
            proptest::prop_assert_eq!(fields, records);
        }

        #[test]
        fn any_text_parses_or_names_a_line_within_it(text in "(?s).{0,300}") {
            if let Err((line, _)) = parse_csv(&text) {
                proptest::prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
            }
        }
    }
}
