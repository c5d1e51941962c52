//! Bounded reading of ZIP containers (DOCX, PPTX, XLSX, ODT, ODS).
//!
//! A zip bomb is a small file that unpacks to gigabytes. Three checks stop
//! it: the sizes the central directory declares are added up before
//! anything is inflated (this catches overlapping-entry bombs, whose
//! entries all point at one blob); the zip crate stops any entry that
//! inflates past its own declared size (lying headers); and every byte
//! actually inflated is counted against the same budget, so the limit holds
//! even if one of the other two is ever loosened. The number of entries is
//! capped too, since each costs memory in the central directory.
//!
//! Entries are looked up by their name inside the archive only; nothing here
//! builds a file system path from a name.

use std::io::{Cursor, Read};

use zip::ZipArchive;
use zip::result::ZipError;

use super::blocks::human_bytes;
use super::{ExtractError, Limits};

/// Office documents have tens to a few thousand parts; a hundred thousand
/// is an attack or a mistake.
pub(crate) const MAX_ENTRIES: usize = 20_000;

pub(crate) struct Package<'a> {
    archive: ZipArchive<Cursor<&'a [u8]>>,
    /// Bytes that may still be inflated.
    budget: u64,
    max_unpacked: u64,
}

impl<'a> Package<'a> {
    /// Opens the container and checks the central directory's claims.
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, ExtractError> {
        let archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
        if archive.len() > MAX_ENTRIES {
            return Err(ExtractError::TooLarge(format!(
                "{} files inside the container, limit {MAX_ENTRIES}",
                archive.len()
            )));
        }
        let mut declared: u64 = 0;
        for index in 0..archive.len() {
            let entry = archive.by_index_data(index).map_err(zip_error)?;
            if entry.encrypted() {
                return Err(ExtractError::Encrypted("ZIP container".to_string()));
            }
            declared = declared.saturating_add(entry.size());
        }
        if declared > limits.max_unpacked_bytes {
            return Err(unpacked_too_large(limits.max_unpacked_bytes));
        }
        Ok(Package {
            archive,
            budget: limits.max_unpacked_bytes,
            max_unpacked: limits.max_unpacked_bytes,
        })
    }

    /// The entry names, in central-directory order. Names that are not UTF-8
    /// are skipped: no part of an office document has one.
    pub(crate) fn names(&self) -> Vec<String> {
        self.archive
            .file_names()
            .filter_map(Result::ok)
            .map(|n| n.into_owned())
            .collect()
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// Inflates one entry, counting against the budget. `Ok(None)` when the
    /// archive has no such entry.
    pub(crate) fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(index) = self.archive.index_for_name(name) else {
            return Ok(None);
        };
        let entry = self.archive.by_index(index).map_err(zip_error)?;
        let declared = entry.size();
        // The declared size is only a hint for the first allocation; it is
        // capped so a lying header cannot make us reserve gigabytes.
        let mut out = Vec::with_capacity(declared.min(self.budget).min(1 << 24) as usize);
        let read = entry
            .take(self.budget.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| inflate_error(name, &e))?;
        if read as u64 > self.budget {
            return Err(unpacked_too_large(self.max_unpacked));
        }
        self.budget -= read as u64;
        Ok(Some(out))
    }

    /// Reads an XML part as text (UTF-8, or UTF-16 with a byte-order mark).
    pub(crate) fn read_xml(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        match self.read(name)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(super::xml::decode_xml_bytes(&bytes, name)?)),
        }
    }

    /// Inflates every entry without keeping it, so that a library that reads
    /// the archive on its own (calamine) only ever sees an archive whose true
    /// unpacked size is known to be within the limit.
    pub(crate) fn verify_all(&mut self) -> Result<(), ExtractError> {
        let mut sink = [0u8; 64 * 1024];
        for index in 0..self.archive.len() {
            let mut entry = self.archive.by_index(index).map_err(zip_error)?;
            let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
            loop {
                let n = entry
                    .read(&mut sink)
                    .map_err(|e| inflate_error(&name, &e))?;
                if n == 0 {
                    break;
                }
                if n as u64 > self.budget {
                    return Err(unpacked_too_large(self.max_unpacked));
                }
                self.budget -= n as u64;
            }
        }
        Ok(())
    }
}

/// Resolves a relationship target (`../media/x.xml`, `/ppt/slides/s.xml`)
/// against the folder of the part that names it, as a name inside the
/// archive. Returns `None` for targets that climb out of the archive root
/// or point outside it (`http://...`).
pub(crate) fn resolve_target(base_part: &str, target: &str) -> Option<String> {
    if target.contains("://") {
        return None;
    }
    let mut parts: Vec<&str> = if let Some(absolute) = target.strip_prefix('/') {
        return normalise(absolute.split('/').collect());
    } else {
        base_part.split('/').collect()
    };
    parts.pop(); // the base part's own file name
    parts.extend(target.split('/'));
    normalise(parts)
}

fn normalise(parts: Vec<&str>) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for part in parts {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    Some(out.join("/"))
}

/// The zip crate stops an entry that inflates past its declared size with
/// an I/O error. How far past is unknown at that point, so the message
/// names both explanations; the code is `too_large` because that is the
/// attack this check exists for.
fn inflate_error(name: &str, e: &std::io::Error) -> ExtractError {
    if e.to_string().contains("larger than its declared") {
        ExtractError::TooLarge(format!(
            "{name} unpacks to more than the archive declares: damaged, or a zip bomb"
        ))
    } else {
        ExtractError::Corrupt(format!("cannot unpack {name}: {e}"))
    }
}

fn unpacked_too_large(limit: u64) -> ExtractError {
    ExtractError::TooLarge(format!(
        "unpacks to more than {} (a zip bomb?)",
        human_bytes(limit)
    ))
}

fn zip_error(e: ZipError) -> ExtractError {
    match e {
        ZipError::UnsupportedArchive(what) if what.to_lowercase().contains("password") => {
            ExtractError::Encrypted("ZIP container".to_string())
        }
        ZipError::UnsupportedArchive(what) => {
            ExtractError::Corrupt(format!("unsupported ZIP feature: {what}"))
        }
        other => ExtractError::Corrupt(format!("damaged ZIP container: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_inside_the_archive() {
        assert_eq!(
            resolve_target("ppt/slides/slide1.xml", "../notesSlides/notesSlide1.xml").as_deref(),
            Some("ppt/notesSlides/notesSlide1.xml")
        );
        assert_eq!(
            resolve_target("ppt/presentation.xml", "slides/slide2.xml").as_deref(),
            Some("ppt/slides/slide2.xml")
        );
        assert_eq!(
            resolve_target("ppt/presentation.xml", "/ppt/slides/slide3.xml").as_deref(),
            Some("ppt/slides/slide3.xml")
        );
        assert_eq!(resolve_target("a.xml", "../../etc/passwd"), None);
        assert_eq!(resolve_target("a.xml", "http://example.com/x"), None);
    }
}
