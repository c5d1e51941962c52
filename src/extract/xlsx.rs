//! Excel workbooks (XLSX) through calamine, one heading per sheet and one
//! row of text per spreadsheet row.
//!
//! calamine opens the ZIP itself, so the archive is first inflated once in
//! full by the bounded reader: calamine then only ever sees an archive whose
//! true unpacked size is within the limit. Cells are read with calamine's
//! streaming cell reader rather than `worksheet_range`, which allocates the
//! whole bounding box and can be made to ask for billions of cells by two
//! cells far apart.

use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx, XlsxError};

use super::blocks::BlockBuilder;
use super::ooxml::{core_title, join_cells};
use super::zipsafe::Package;
use super::{ExtractError, Extracted, Format, Limits};

/// Gaps of up to this many empty cells are kept as empty columns so rows
/// stay aligned with their header; wider gaps are closed up.
const MAX_GAP: u32 = 20;

pub(crate) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let title = {
        let mut package = Package::open(bytes, limits)?;
        package.verify_all()?;
        // verify_all spent the budget; a fresh package reads the title.
        let mut package = Package::open(bytes, limits)?;
        core_title(&mut package)?
    };
    // calamine 0.38 can panic on hostile sheets (an overlong cell reference
    // overflows its column arithmetic when overflow checks are on). The
    // workbook is thrown away after a panic, so containing it here and
    // calling the file damaged is sound; the helper process would catch it
    // anyway, but as "crashed", which would blame Hearth for a bad file.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_workbook(bytes, limits)
    }));
    let (blocks, warnings) = match read {
        Ok(result) => result?,
        Err(_) => {
            return Err(ExtractError::Corrupt(
                "the spreadsheet reader gave up on this workbook".to_string(),
            ));
        }
    };
    Ok(Extracted {
        format: Format::Xlsx,
        title,
        pages: None,
        blocks,
        warnings,
        ocr_pages: 0,
    })
}

fn read_workbook(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<super::Block>, Vec<String>), ExtractError> {
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(xlsx_error)?;
    let mut builder = BlockBuilder::new(limits);
    let mut warnings = Vec::new();
    for name in workbook.sheet_names() {
        builder.set_section(Some(&name));
        let mut reader = match workbook.worksheet_cells_reader(&name) {
            Ok(reader) => reader,
            // Chart sheets and dialog sheets have no cells.
            Err(XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => {
                warnings.push(format!("sheet {name} skipped: {e}"));
                continue;
            }
        };
        let mut row_index: Option<u32> = None;
        let mut cells: Vec<(u32, String)> = Vec::new();
        loop {
            let cell = match reader.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => break,
                Err(e) => {
                    warnings.push(format!(
                        "sheet {name} is damaged, read up to the error: {e}"
                    ));
                    break;
                }
            };
            let (row, column) = cell.get_position();
            if row_index != Some(row) {
                emit_row(&mut cells, &mut builder)?;
                row_index = Some(row);
            }
            let value = format_value(cell.get_value());
            if !value.is_empty() {
                cells.push((column, value));
            }
        }
        emit_row(&mut cells, &mut builder)?;
    }
    Ok((builder.finish(), warnings))
}

fn emit_row(
    cells: &mut Vec<(u32, String)>,
    builder: &mut BlockBuilder,
) -> Result<(), ExtractError> {
    if cells.is_empty() {
        return Ok(());
    }
    cells.sort_by_key(|(column, _)| *column);
    let mut row: Vec<String> = Vec::new();
    let mut previous: Option<u32> = None;
    for (column, value) in cells.drain(..) {
        if let Some(previous) = previous {
            let gap = column.saturating_sub(previous).saturating_sub(1);
            if gap <= MAX_GAP {
                row.extend(std::iter::repeat_n(String::new(), gap as usize));
            }
        }
        previous = Some(column);
        row.push(value);
    }
    builder.row(&join_cells(&row))
}

fn format_value(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => format_float(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (year, month, day, hour, minute, second, _) = dt.to_ymd_hms_milli();
            if (hour, minute, second) == (0, 0, 0) {
                format!("{year:04}-{month:02}-{day:02}")
            } else if dt.as_f64() < 1.0 {
                format!("{hour:02}:{minute:02}")
            } else {
                format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
            }
        }
        DataRef::DateTime(dt) => {
            // A duration in days.
            let total_minutes = (dt.as_f64() * 24.0 * 60.0).round();
            if total_minutes.is_finite() && total_minutes.abs() < 1e12 {
                let minutes = total_minutes as i64;
                format!("{}:{:02}", minutes / 60, (minutes % 60).abs())
            } else {
                format_float(dt.as_f64())
            }
        }
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

/// Whole numbers without ".0"; others with Rust's shortest exact form.
fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

fn xlsx_error(e: XlsxError) -> ExtractError {
    match e {
        XlsxError::Password => ExtractError::Encrypted("Excel workbook".to_string()),
        other => ExtractError::Corrupt(format!("damaged Excel workbook: {other}")),
    }
}
