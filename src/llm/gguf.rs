//! Reading a GGUF model file's header safely, before llama.cpp ever sees it.
//!
//! A model file is untrusted input: an admin may have downloaded it from
//! anywhere, and llama.cpp's own GGUF parser has had memory-safety CVEs. So
//! Hearth first walks the whole header here, in pure Rust, under strict
//! limits (text values and keys, array lengths and nesting, metadata and
//! tensor counts, and a 256 MiB ceiling on the header as a whole), checks
//! that every tensor's data lies aligned and inside the file, and only then
//! lets llama.cpp open it. The same pass gathers what the admin "Models" page
//! shows: architecture, name, quantization, parameter count, context length
//! and whether the file carries a chat template. Only the header is read,
//! through a `BufReader`, never the multi-gigabyte tensor data; no count from
//! the file sizes an allocation before it has been checked; and no input,
//! however malformed, makes this module panic (every read is bounds-checked
//! and every size computation is checked arithmetic).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use serde::Serialize;

/// What the header of a GGUF model file says, once it has passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GgufInfo {
    /// GGUF format version: 2 or 3.
    pub version: u32,
    /// Number of tensors the file describes.
    pub tensor_count: u64,
    /// `general.architecture`, e.g. "llama", "qwen2".
    pub architecture: Option<String>,
    /// `general.name`, the human name the converter gave the model.
    pub name: Option<String>,
    /// `general.file_type`, llama.cpp's `LLAMA_FTYPE` number.
    pub file_type: Option<u32>,
    /// Human label such as "Q4_K_M" or "F16": from `general.file_type` when it
    /// is a known value, otherwise the tensor type holding the most weights,
    /// otherwise "unknown".
    pub quantization: String,
    /// Sum over all tensors of the product of their dimensions.
    pub parameters: u64,
    /// `{architecture}.context_length`: the longest context the model was trained for.
    pub context_length: Option<u64>,
    /// Whether `tokenizer.chat_template` is present (needed to chat with the model).
    pub has_chat_template: bool,
    /// Size of the whole file in bytes.
    pub file_size: u64,
}

/// Why a file was refused. The messages are written for an office admin.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("this file is not a GGUF model")]
    NotGguf,
    #[error("this GGUF model uses format version {0}; Hearth can read versions 2 and 3 only")]
    UnsupportedVersion(u32),
    #[error("the file is truncated (the header promises more data than the file has)")]
    Truncated,
    #[error("the model file is damaged or unsafe to load: {0}")]
    Invalid(String),
    #[error("the model file could not be read: {0}")]
    Io(#[from] io::Error),
}

/// Reads and checks the header of the GGUF file at `path`. Only the header is
/// read (buffered), so this is quick even for multi-gigabyte files.
pub fn inspect(path: &Path) -> Result<GgufInfo, GgufError> {
    let file = File::open(path)?;
    let file_size = file.metadata()?.len();
    inspect_reader(BufReader::with_capacity(64 * 1024, file), file_size)
}

/// Reads and checks a GGUF header from `reader`, which must start at the
/// beginning of the file; `file_size` is the size of the whole file, used to
/// check that nothing the header describes lies beyond its end. Nothing past
/// `file_size` is ever read, so a reader that never ends is harmless.
pub fn inspect_reader<R: Read>(reader: R, file_size: u64) -> Result<GgufInfo, GgufError> {
    inspect_with_limits(reader, file_size, HEARTH_LIMITS)
}

impl GgufInfo {
    /// Parameter count as people say it: "135M", "1.5B", "7.2B", "70.6B".
    /// One decimal below 100 of a unit, none from 100 up; a count that would
    /// round to 1000 of a unit is shown in the next unit ("1.0B", not "1000M").
    pub fn parameters_label(&self) -> String {
        const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")];
        // f64 has 53 bits of mantissa: plenty for a two- or three-digit label.
        let count = self.parameters as f64;
        for (scale, suffix) in UNITS {
            // 999.5 of the smaller unit already prints as "1000", so switch up there.
            if count >= 0.9995 * scale {
                let value = count / scale;
                return if value < 99.95 {
                    format!("{value:.1}{suffix}")
                } else {
                    format!("{value:.0}{suffix}")
                };
            }
        }
        self.parameters.to_string()
    }
}

/// The ceilings applied while reading a header. One set is used in
/// production ([`HEARTH_LIMITS`]); tests shrink some to exercise them cheaply.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Longest text value. Chat templates are the longest real ones (tens of KiB).
    max_string_bytes: u64,
    /// Longest metadata key or tensor name. Real ones are under 100 bytes.
    max_key_bytes: u64,
    /// Most elements in one array. Vocabularies are 150k–260k strings.
    max_array_elements: u64,
    max_metadata_entries: u64,
    max_tensors: u64,
    /// Arrays of arrays are allowed by the format but never needed deeply.
    max_array_depth: u32,
    /// Ceiling on the whole header, so a file cannot make us read gigabytes
    /// of "metadata". Real headers are a few MiB (mostly the vocabulary).
    max_header_bytes: u64,
}

const MIB: u64 = 1024 * 1024;

const HEARTH_LIMITS: Limits = Limits {
    max_string_bytes: MIB,
    max_key_bytes: 64 * 1024,
    max_array_elements: 10_000_000,
    max_metadata_entries: 100_000,
    max_tensors: 100_000,
    max_array_depth: 4,
    max_header_bytes: 256 * MIB,
};

/// Capacity reserved up front for collections sized by a count from the file:
/// the count is only a promise, so reserve a little and let them grow as the
/// promise is actually kept by bytes read.
const SMALL_PREALLOCATION: u64 = 1024;

const GGUF_MAGIC: [u8; 4] = *b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions (`GGML_MAX_DIMS`).
const MAX_TENSOR_DIMENSIONS: u32 = 4;
/// ggml stores dimensions and element counts as `int64_t`; anything larger
/// would wrap negative inside llama.cpp.
const MAX_TENSOR_ELEMENTS: u64 = i64::MAX.unsigned_abs();

// GGUF metadata value types.
const VALUE_U8: u32 = 0;
const VALUE_I8: u32 = 1;
const VALUE_U16: u32 = 2;
const VALUE_I16: u32 = 3;
const VALUE_U32: u32 = 4;
const VALUE_I32: u32 = 5;
const VALUE_F32: u32 = 6;
const VALUE_BOOL: u32 = 7;
const VALUE_STRING: u32 = 8;
const VALUE_ARRAY: u32 = 9;
const VALUE_U64: u32 = 10;
const VALUE_I64: u32 = 11;
const VALUE_F64: u32 = 12;

/// Encoded size of the value types that have a fixed size and need no
/// checking of their content (bools do: they must be 0 or 1).
fn fixed_value_size(value_type: u32) -> Option<u64> {
    match value_type {
        VALUE_U8 | VALUE_I8 => Some(1),
        VALUE_U16 | VALUE_I16 => Some(2),
        VALUE_U32 | VALUE_I32 | VALUE_F32 => Some(4),
        VALUE_U64 | VALUE_I64 | VALUE_F64 => Some(8),
        _ => None,
    }
}

/// The fewest bytes one value of this type can take, or `None` for a type
/// that does not exist. Used to refuse an array whose count could not fit in
/// the rest of the file before looping over it.
fn minimum_value_size(value_type: u32) -> Option<u64> {
    match value_type {
        VALUE_BOOL => Some(1),
        // A string is at least its u64 length.
        VALUE_STRING => Some(8),
        // An array is at least its u32 element type and u64 count.
        VALUE_ARRAY => Some(12),
        other => fixed_value_size(other),
    }
}

/// Block layout of the ggml tensor types whose size we can compute:
/// (elements per block, bytes per block). `None` for other types, whose size
/// check is skipped rather than failed, so that a newer quantization does not
/// make Hearth refuse an otherwise sound file.
fn ggml_block_layout(ggml_type: u32) -> Option<(u64, u64)> {
    match ggml_type {
        0 => Some((1, 4)),      // F32
        1 => Some((1, 2)),      // F16
        2 => Some((32, 18)),    // Q4_0
        3 => Some((32, 20)),    // Q4_1
        6 => Some((32, 22)),    // Q5_0
        7 => Some((32, 24)),    // Q5_1
        8 => Some((32, 34)),    // Q8_0
        9 => Some((32, 36)),    // Q8_1
        10 => Some((256, 84)),  // Q2_K
        11 => Some((256, 110)), // Q3_K
        12 => Some((256, 144)), // Q4_K
        13 => Some((256, 176)), // Q5_K
        14 => Some((256, 210)), // Q6_K
        15 => Some((256, 292)), // Q8_K
        24 => Some((1, 1)),     // I8
        25 => Some((1, 2)),     // I16
        26 => Some((1, 4)),     // I32
        27 => Some((1, 8)),     // I64
        28 => Some((1, 8)),     // F64
        30 => Some((1, 2)),     // BF16
        _ => None,
    }
}

/// Name of a ggml tensor type (`GGML_TYPE_*`), for guessing the quantization
/// of files that lack `general.file_type`.
fn ggml_type_name(ggml_type: u32) -> Option<&'static str> {
    let name = match ggml_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        42 => "Q2_0",
        _ => return None,
    };
    Some(name)
}

/// Label of llama.cpp's `LLAMA_FTYPE` (the `general.file_type` value).
fn file_type_label(file_type: u32) -> Option<&'static str> {
    let label = match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    };
    Some(label)
}

fn invalid(reason: impl Into<String>) -> GgufError {
    GgufError::Invalid(reason.into())
}

/// A name from the file, shortened and escaped for an error message: keys may
/// be 64 KiB long and hold control characters.
fn quoted(name: &str) -> String {
    let mut shortened: String = name.chars().take(80).collect();
    if shortened.len() < name.len() {
        shortened.push('…');
    }
    format!("{shortened:?}")
}

fn small_capacity(count: u64) -> usize {
    // Both bounds fit in usize on every platform Rust supports (≥ 16 bits).
    usize::try_from(count.min(SMALL_PREALLOCATION)).unwrap_or(0)
}

/// An end of input in the middle of the header means the file is shorter
/// than it claims; anything else is a genuine read error.
fn read_error(error: io::Error) -> GgufError {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        GgufError::Truncated
    } else {
        GgufError::Io(error)
    }
}

/// The reading side of the parser: every read first claims its bytes against
/// the file size and the header budget, so nothing is read or allocated for
/// data the file cannot hold.
struct HeaderReader<R> {
    source: R,
    /// Bytes consumed from the start of the file.
    position: u64,
    file_size: u64,
    limits: Limits,
}

impl<R: Read> HeaderReader<R> {
    /// Checks that `byte_count` more bytes exist in the file and fit in the
    /// header budget; returns the position after them. Reads nothing.
    fn claim(&self, byte_count: u64) -> Result<u64, GgufError> {
        let end = self
            .position
            .checked_add(byte_count)
            .ok_or(GgufError::Truncated)?;
        if end > self.file_size {
            return Err(GgufError::Truncated);
        }
        if end > self.limits.max_header_bytes {
            return Err(invalid(format!(
                "its header is larger than {} MiB, far more than any real model needs",
                self.limits.max_header_bytes / MIB
            )));
        }
        Ok(end)
    }

    fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let end = self.claim(N as u64)?;
        let mut bytes = [0u8; N];
        self.source.read_exact(&mut bytes).map_err(read_error)?;
        self.position = end;
        Ok(bytes)
    }

    fn read_u8(&mut self) -> Result<u8, GgufError> {
        Ok(u8::from_le_bytes(self.read_fixed()?))
    }

    fn read_u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.read_fixed()?))
    }

    fn read_u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.read_fixed()?))
    }

    fn read_bool(&mut self) -> Result<bool, GgufError> {
        // Any other byte is malformed, and older llama.cpp read it straight
        // into a C++ bool, which is undefined behaviour.
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(invalid(format!(
                "a yes/no value holds {other} instead of 0 or 1"
            ))),
        }
    }

    /// Reads a length prefix and refuses it above `limit`; `what` names the
    /// thing for the error message.
    fn read_length(&mut self, limit: u64, what: &str) -> Result<u64, GgufError> {
        let length = self.read_u64()?;
        if length > limit {
            return Err(invalid(format!(
                "{what} is {length} bytes long; Hearth allows at most {limit}"
            )));
        }
        Ok(length)
    }

    /// Reads `byte_count` bytes into a new buffer. Callers bound `byte_count`
    /// by a limit of at most a few MiB, and `claim` runs before allocating.
    fn read_bytes(&mut self, byte_count: u64) -> Result<Vec<u8>, GgufError> {
        let end = self.claim(byte_count)?;
        let length = usize::try_from(byte_count)
            .map_err(|_| invalid("a value is too large for this computer"))?;
        let mut bytes = vec![0u8; length];
        self.source.read_exact(&mut bytes).map_err(read_error)?;
        self.position = end;
        Ok(bytes)
    }

    /// Reads past `byte_count` bytes, streaming them through `sink` in small
    /// chunks (never holding them all).
    fn skip_into<W: Write>(&mut self, byte_count: u64, sink: &mut W) -> Result<(), GgufError> {
        let end = self.claim(byte_count)?;
        let copied =
            io::copy(&mut (&mut self.source).take(byte_count), sink).map_err(read_error)?;
        if copied != byte_count {
            return Err(GgufError::Truncated);
        }
        self.position = end;
        Ok(())
    }

    fn skip(&mut self, byte_count: u64) -> Result<(), GgufError> {
        self.skip_into(byte_count, &mut io::sink())
    }
}

/// A sink that checks bytes are valid bools (0 or 1) as they stream past, so
/// a long bool array is validated without a byte-at-a-time loop.
#[derive(Default)]
struct BoolChecker {
    found_invalid: bool,
}

impl Write for BoolChecker {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if bytes.iter().any(|&byte| byte > 1) {
            self.found_invalid = true;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A metadata value, kept only as far as Hearth needs it.
enum MetadataValue {
    Unsigned(u64),
    Signed(i64),
    Text(String),
    /// Floats, bools, arrays and text nobody asked to keep: read and checked,
    /// then dropped.
    NotKept,
}

impl MetadataValue {
    fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Unsigned(value) => Some(*value),
            Self::Signed(value) => u64::try_from(*value).ok(),
            Self::Text(_) | Self::NotKept => None,
        }
    }
}

/// The metadata Hearth uses; everything else is checked and skipped.
#[derive(Default)]
struct KnownMetadata {
    architecture: Option<String>,
    name: Option<String>,
    file_type: Option<u32>,
    alignment: Option<u64>,
    has_chat_template: bool,
    /// `(prefix, value)` for every `{prefix}.context_length` key: keys come in
    /// any order, so the architecture may not be known yet when we see it.
    context_lengths: Vec<(String, u64)>,
}

struct TensorInfo {
    /// For error messages (lossy UTF-8: llama.cpp does not require UTF-8 here).
    name: String,
    element_count: u64,
    ggml_type: u32,
    offset: u64,
    /// `None` for tensor types whose block layout we do not know.
    byte_size: Option<u64>,
}

fn inspect_with_limits<R: Read>(
    reader: R,
    file_size: u64,
    limits: Limits,
) -> Result<GgufInfo, GgufError> {
    let mut header = HeaderReader {
        source: reader,
        position: 0,
        file_size,
        limits,
    };

    // A file too short to hold the magic is simply not a GGUF model.
    let magic = header.read_fixed::<4>().map_err(|error| match error {
        GgufError::Truncated => GgufError::NotGguf,
        other => other,
    })?;
    if magic != GGUF_MAGIC {
        return Err(GgufError::NotGguf);
    }
    // Version 1 used 32-bit lengths; a big-endian file shows up here as a
    // huge version number. Both are refused rather than misread.
    let version = header.read_u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version));
    }
    let tensor_count = header.read_u64()?;
    if tensor_count > limits.max_tensors {
        return Err(invalid(format!(
            "it claims {tensor_count} tensors; Hearth allows at most {}",
            limits.max_tensors
        )));
    }
    let metadata_count = header.read_u64()?;
    if metadata_count > limits.max_metadata_entries {
        return Err(invalid(format!(
            "it claims {metadata_count} metadata entries; Hearth allows at most {}",
            limits.max_metadata_entries
        )));
    }

    let metadata = read_metadata(&mut header, metadata_count)?;
    let tensors = read_tensor_infos(&mut header, tensor_count)?;
    let header_end = header.position;

    let alignment = metadata.alignment.unwrap_or(DEFAULT_ALIGNMENT);
    // Tensor offsets count from the start of the data section, which begins
    // at the first multiple of the alignment after the header.
    let data_start = header_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| invalid("its data section would start beyond any possible file size"))?;
    check_tensor_placement(&tensors, data_start, alignment, file_size)?;

    let parameters = tensors.iter().try_fold(0u64, |total, tensor| {
        total
            .checked_add(tensor.element_count)
            .ok_or_else(|| invalid("its tensors hold more values than can be counted"))
    })?;

    let quantization = metadata
        .file_type
        .and_then(file_type_label)
        .or_else(|| guess_quantization(&tensors))
        .unwrap_or("unknown")
        .to_string();

    let context_length = metadata.architecture.as_deref().and_then(|architecture| {
        metadata
            .context_lengths
            .iter()
            .find(|(prefix, _)| prefix == architecture)
            .map(|(_, length)| *length)
    });

    Ok(GgufInfo {
        version,
        tensor_count,
        architecture: metadata.architecture,
        name: metadata.name,
        file_type: metadata.file_type,
        quantization,
        parameters,
        context_length,
        has_chat_template: metadata.has_chat_template,
        file_size,
    })
}

fn read_metadata<R: Read>(
    header: &mut HeaderReader<R>,
    metadata_count: u64,
) -> Result<KnownMetadata, GgufError> {
    let mut known = KnownMetadata::default();
    // Duplicate keys are refused (as llama.cpp does): otherwise we could check
    // one value while llama.cpp uses another.
    let mut seen_keys: HashSet<String> = HashSet::with_capacity(small_capacity(metadata_count));
    for _ in 0..metadata_count {
        let key = read_key(header)?;
        if !seen_keys.insert(key.clone()) {
            return Err(invalid(format!(
                "the metadata key {} appears twice",
                quoted(&key)
            )));
        }
        let value_type = header.read_u32()?;
        let keep_text = key == "general.architecture" || key == "general.name";
        let value = read_value(header, value_type, keep_text)?;

        match key.as_str() {
            "general.architecture" => {
                if let MetadataValue::Text(text) = value {
                    known.architecture = Some(text);
                }
            }
            "general.name" => {
                if let MetadataValue::Text(text) = value {
                    known.name = Some(text);
                }
            }
            "general.file_type" => {
                known.file_type = value.as_u64().and_then(|number| u32::try_from(number).ok());
            }
            "general.alignment" => {
                // llama.cpp insists on a u32 power of two; so do we, since
                // the alignment decides where every tensor lies.
                let alignment = value
                    .as_u64()
                    .filter(|alignment| value_type == VALUE_U32 && alignment.is_power_of_two())
                    .ok_or_else(|| invalid("general.alignment is not a power of two (u32)"))?;
                known.alignment = Some(alignment);
            }
            "tokenizer.chat_template" => {
                known.has_chat_template = value_type == VALUE_STRING;
            }
            _ => {
                if let (Some(prefix), Some(length)) =
                    (key.strip_suffix(".context_length"), value.as_u64())
                {
                    known.context_lengths.push((prefix.to_string(), length));
                }
            }
        }
    }
    Ok(known)
}

fn read_key<R: Read>(header: &mut HeaderReader<R>) -> Result<String, GgufError> {
    let length = header.read_length(header.limits.max_key_bytes, "a metadata key")?;
    if length == 0 {
        return Err(invalid("a metadata key is empty"));
    }
    let bytes = header.read_bytes(length)?;
    // Keys are identifiers we compare against: they must be real text.
    String::from_utf8(bytes).map_err(|_| invalid("a metadata key is not valid UTF-8 text"))
}

/// Reads one metadata value of `value_type`. Text is decoded only when
/// `keep_text`; other text is skipped unread, and is not required to be
/// UTF-8 because llama.cpp does not require it either (some vocabularies
/// hold raw byte tokens).
fn read_value<R: Read>(
    header: &mut HeaderReader<R>,
    value_type: u32,
    keep_text: bool,
) -> Result<MetadataValue, GgufError> {
    let value = match value_type {
        VALUE_U8 => MetadataValue::Unsigned(u64::from(header.read_u8()?)),
        VALUE_I8 => MetadataValue::Signed(i64::from(i8::from_le_bytes(header.read_fixed()?))),
        VALUE_U16 => MetadataValue::Unsigned(u64::from(u16::from_le_bytes(header.read_fixed()?))),
        VALUE_I16 => MetadataValue::Signed(i64::from(i16::from_le_bytes(header.read_fixed()?))),
        VALUE_U32 => MetadataValue::Unsigned(u64::from(header.read_u32()?)),
        VALUE_I32 => MetadataValue::Signed(i64::from(i32::from_le_bytes(header.read_fixed()?))),
        VALUE_U64 => MetadataValue::Unsigned(header.read_u64()?),
        VALUE_I64 => MetadataValue::Signed(i64::from_le_bytes(header.read_fixed()?)),
        VALUE_F32 => {
            header.skip(4)?;
            MetadataValue::NotKept
        }
        VALUE_F64 => {
            header.skip(8)?;
            MetadataValue::NotKept
        }
        VALUE_BOOL => {
            header.read_bool()?;
            MetadataValue::NotKept
        }
        VALUE_STRING => {
            let length = header.read_length(header.limits.max_string_bytes, "a text value")?;
            if keep_text {
                let bytes = header.read_bytes(length)?;
                MetadataValue::Text(String::from_utf8_lossy(&bytes).into_owned())
            } else {
                header.skip(length)?;
                MetadataValue::NotKept
            }
        }
        VALUE_ARRAY => {
            skip_array(header, 1)?;
            MetadataValue::NotKept
        }
        other => {
            return Err(invalid(format!(
                "a metadata value has unknown type {other}"
            )));
        }
    };
    Ok(value)
}

/// Reads and checks an array (its element type and count are next in the
/// file) without keeping it. `depth` is 1 for a top-level array. Recursion is
/// bounded by `max_array_depth`, and every element consumes at least one
/// byte of the bounded header, so the work is bounded too.
fn skip_array<R: Read>(header: &mut HeaderReader<R>, depth: u32) -> Result<(), GgufError> {
    if depth > header.limits.max_array_depth {
        return Err(invalid(format!(
            "its arrays are nested more than {} deep",
            header.limits.max_array_depth
        )));
    }
    let element_type = header.read_u32()?;
    let count = header.read_u64()?;
    if count > header.limits.max_array_elements {
        return Err(invalid(format!(
            "an array has {count} elements; Hearth allows at most {}",
            header.limits.max_array_elements
        )));
    }
    let minimum_size = minimum_value_size(element_type).ok_or_else(|| {
        invalid(format!(
            "an array has elements of unknown type {element_type}"
        ))
    })?;
    // Refuse a count the rest of the file could not possibly hold before
    // looping over it.
    let minimum_total = count
        .checked_mul(minimum_size)
        .ok_or(GgufError::Truncated)?;
    header.claim(minimum_total)?;

    match element_type {
        VALUE_BOOL => {
            let mut checker = BoolChecker::default();
            header.skip_into(count, &mut checker)?;
            if checker.found_invalid {
                return Err(invalid("a yes/no value holds something other than 0 or 1"));
            }
        }
        VALUE_STRING => {
            for _ in 0..count {
                let length = header.read_length(header.limits.max_string_bytes, "a text value")?;
                header.skip(length)?;
            }
        }
        VALUE_ARRAY => {
            for _ in 0..count {
                skip_array(header, depth.saturating_add(1))?;
            }
        }
        // Fixed-size numbers: their minimum size is their size.
        _ => header.skip(minimum_total)?,
    }
    Ok(())
}

fn read_tensor_infos<R: Read>(
    header: &mut HeaderReader<R>,
    tensor_count: u64,
) -> Result<Vec<TensorInfo>, GgufError> {
    let mut tensors = Vec::with_capacity(small_capacity(tensor_count));
    // Duplicate names are refused, as llama.cpp does: a name must mean one tensor.
    let mut seen_names: HashSet<Vec<u8>> = HashSet::with_capacity(small_capacity(tensor_count));
    for _ in 0..tensor_count {
        let name_length = header.read_length(header.limits.max_key_bytes, "a tensor name")?;
        let name_bytes = header.read_bytes(name_length)?;
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        if !seen_names.insert(name_bytes) {
            return Err(invalid(format!(
                "the tensor name {} appears twice",
                quoted(&name)
            )));
        }

        let dimension_count = header.read_u32()?;
        if dimension_count > MAX_TENSOR_DIMENSIONS {
            return Err(invalid(format!(
                "tensor {} has {dimension_count} dimensions; at most {MAX_TENSOR_DIMENSIONS} are possible",
                quoted(&name)
            )));
        }
        // Zero dimensions (a scalar) is accepted, as llama.cpp does: one value.
        let mut element_count: u64 = 1;
        let mut row_length: u64 = 1;
        for dimension_index in 0..dimension_count {
            let dimension = header.read_u64()?;
            if dimension_index == 0 {
                row_length = dimension;
            }
            element_count = element_count
                .checked_mul(dimension)
                .filter(|&product| product <= MAX_TENSOR_ELEMENTS)
                .ok_or_else(|| {
                    invalid(format!(
                        "tensor {} has more values than can be counted",
                        quoted(&name)
                    ))
                })?;
        }

        let ggml_type = header.read_u32()?;
        let offset = header.read_u64()?;

        let byte_size = match ggml_block_layout(ggml_type) {
            Some((block_elements, block_bytes)) => {
                // Quantized rows are whole blocks; a partial block would make
                // the size (and llama.cpp's row strides) meaningless.
                if !row_length.is_multiple_of(block_elements) {
                    return Err(invalid(format!(
                        "tensor {} has rows of {row_length} values, not a multiple of its block size {block_elements}",
                        quoted(&name)
                    )));
                }
                let size = (element_count / block_elements)
                    .checked_mul(block_bytes)
                    .ok_or_else(|| {
                        invalid(format!("tensor {} is impossibly large", quoted(&name)))
                    })?;
                Some(size)
            }
            None => None,
        };

        tensors.push(TensorInfo {
            name,
            element_count,
            ggml_type,
            offset,
            byte_size,
        });
    }
    Ok(tensors)
}

/// Every tensor must start on an alignment boundary inside the data section
/// and, where its size is known, end inside the file: this is what keeps
/// llama.cpp from reading (or mapping) beyond the end of the file.
fn check_tensor_placement(
    tensors: &[TensorInfo],
    data_start: u64,
    alignment: u64,
    file_size: u64,
) -> Result<(), GgufError> {
    for tensor in tensors {
        // `alignment` is a power of two, hence never zero.
        if !tensor.offset.is_multiple_of(alignment) {
            return Err(invalid(format!(
                "tensor {} starts at offset {}, which is not a multiple of the alignment {alignment}",
                quoted(&tensor.name),
                tensor.offset
            )));
        }
        let start = data_start.checked_add(tensor.offset).ok_or_else(|| {
            invalid(format!(
                "tensor {} starts beyond any possible file size",
                quoted(&tensor.name)
            ))
        })?;
        let end = match tensor.byte_size {
            Some(size) => start.checked_add(size).ok_or_else(|| {
                invalid(format!(
                    "tensor {} ends beyond any possible file size",
                    quoted(&tensor.name)
                ))
            })?,
            // Unknown type: at least its start must be inside the file.
            None => start,
        };
        if end > file_size {
            return Err(GgufError::Truncated);
        }
    }
    Ok(())
}

/// For files without (or with an unknown) `general.file_type`: the tensor
/// type holding the most values. Weighted by values, not counted by tensors,
/// because the many small norm tensors are F32 even in quantized models.
fn guess_quantization(tensors: &[TensorInfo]) -> Option<&'static str> {
    let mut values_by_type: BTreeMap<u32, u64> = BTreeMap::new();
    for tensor in tensors {
        let total = values_by_type.entry(tensor.ggml_type).or_insert(0);
        *total = total.saturating_add(tensor.element_count);
    }
    values_by_type
        .into_iter()
        // Ties go to the lower type number, so the answer is deterministic.
        .max_by_key(|&(ggml_type, values)| (values, Reverse(ggml_type)))
        .and_then(|(ggml_type, _)| ggml_type_name(ggml_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Instant;

    const GGML_F32: u32 = 0;
    const GGML_F16: u32 = 1;
    const GGML_Q4_1: u32 = 3;

    /// Little-endian bytes, built by chaining.
    #[derive(Default, Clone)]
    struct Bytes(Vec<u8>);

    impl Bytes {
        fn u8(mut self, value: u8) -> Self {
            self.0.push(value);
            self
        }
        fn u16(mut self, value: u16) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn i16(mut self, value: i16) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn u32(mut self, value: u32) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn i32(mut self, value: i32) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn u64(mut self, value: u64) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn i64(mut self, value: i64) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn f32(mut self, value: f32) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn f64(mut self, value: f64) -> Self {
            self.0.extend_from_slice(&value.to_le_bytes());
            self
        }
        fn string(self, text: &str) -> Self {
            self.raw_string(text.as_bytes())
        }
        fn raw_string(mut self, bytes: &[u8]) -> Self {
            self = self.u64(bytes.len() as u64);
            self.0.extend_from_slice(bytes);
            self
        }
    }

    /// A tiny GGUF writer: metadata and tensor infos are collected, then
    /// `build` lays out header, padding and zeroed tensor data.
    struct TestFile {
        version: u32,
        metadata: Bytes,
        metadata_count: u64,
        tensors: Bytes,
        tensor_count: u64,
    }

    impl TestFile {
        fn new(version: u32) -> Self {
            Self {
                version,
                metadata: Bytes::default(),
                metadata_count: 0,
                tensors: Bytes::default(),
                tensor_count: 0,
            }
        }

        /// `value` starts with the value type.
        fn kv(mut self, key: &str, value: Bytes) -> Self {
            self.metadata = std::mem::take(&mut self.metadata).string(key);
            self.metadata.0.extend_from_slice(&value.0);
            self.metadata_count += 1;
            self
        }

        fn tensor(mut self, name: &str, dimensions: &[u64], ggml_type: u32, offset: u64) -> Self {
            let mut info = std::mem::take(&mut self.tensors)
                .string(name)
                .u32(dimensions.len() as u32);
            for &dimension in dimensions {
                info = info.u64(dimension);
            }
            self.tensors = info.u32(ggml_type).u64(offset);
            self.tensor_count += 1;
            self
        }

        fn header_bytes(&self) -> Vec<u8> {
            let mut bytes = Bytes(b"GGUF".to_vec())
                .u32(self.version)
                .u64(self.tensor_count)
                .u64(self.metadata_count);
            bytes.0.extend_from_slice(&self.metadata.0);
            bytes.0.extend_from_slice(&self.tensors.0);
            bytes.0
        }

        /// Header, padding to `alignment`, then `data_length` zero bytes.
        fn build(&self, alignment: usize, data_length: usize) -> Vec<u8> {
            let mut bytes = self.header_bytes();
            bytes.resize(bytes.len().next_multiple_of(alignment), 0);
            bytes.resize(bytes.len() + data_length, 0);
            bytes
        }
    }

    fn string_value(text: &str) -> Bytes {
        Bytes::default().u32(VALUE_STRING).string(text)
    }

    fn u32_value(value: u32) -> Bytes {
        Bytes::default().u32(VALUE_U32).u32(value)
    }

    /// A small but complete model: every value type, a string array, a
    /// nested array, and two tensors (Q4_1 and F32) with their data.
    fn sample_file() -> Vec<u8> {
        // The last tensor ends exactly at the end of the file.
        sample_test_file().build(32, 128 + 256)
    }

    fn sample_test_file() -> TestFile {
        TestFile::new(3)
            .kv("general.architecture", string_value("llama"))
            .kv("general.name", string_value("Tiny Test Model"))
            .kv("general.file_type", u32_value(3))
            .kv("general.alignment", u32_value(32))
            .kv("llama.context_length", u32_value(2048))
            .kv("other.context_length", u32_value(99))
            .kv(
                "tokenizer.chat_template",
                string_value("{% for m in messages %}{{ m.content }}{% endfor %}"),
            )
            .kv(
                "tokenizer.ggml.tokens",
                Bytes::default()
                    .u32(VALUE_ARRAY)
                    .u32(VALUE_STRING)
                    .u64(3)
                    .string("<s>")
                    .string("</s>")
                    .string("hello"),
            )
            .kv(
                "tokenizer.ggml.scores",
                Bytes::default()
                    .u32(VALUE_ARRAY)
                    .u32(VALUE_F32)
                    .u64(3)
                    .f32(0.0)
                    .f32(-1.0)
                    .f32(-2.5),
            )
            .kv(
                "test.flags",
                Bytes::default()
                    .u32(VALUE_ARRAY)
                    .u32(VALUE_BOOL)
                    .u64(2)
                    .u8(1)
                    .u8(0),
            )
            .kv(
                "test.nested",
                Bytes::default()
                    .u32(VALUE_ARRAY)
                    .u32(VALUE_ARRAY)
                    .u64(2)
                    .u32(VALUE_I64)
                    .u64(1)
                    .i64(-5)
                    .u32(VALUE_U8)
                    .u64(2)
                    .u8(1)
                    .u8(2),
            )
            .kv("test.u8", Bytes::default().u32(VALUE_U8).u8(7))
            .kv("test.i8", Bytes::default().u32(VALUE_I8).u8(0xff))
            .kv("test.u16", Bytes::default().u32(VALUE_U16).u16(65535))
            .kv("test.i16", Bytes::default().u32(VALUE_I16).i16(-2))
            .kv("test.i32", Bytes::default().u32(VALUE_I32).i32(-3))
            .kv("test.u64", Bytes::default().u32(VALUE_U64).u64(1 << 40))
            .kv("test.i64", Bytes::default().u32(VALUE_I64).i64(-4))
            .kv("test.f64", Bytes::default().u32(VALUE_F64).f64(0.5))
            .kv("test.bool", Bytes::default().u32(VALUE_BOOL).u8(1))
            // 64 × 3 Q4_1 values: 6 blocks of 20 bytes = 120, padded to 128.
            .tensor("token_embd.weight", &[64, 3], GGML_Q4_1, 0)
            // 64 F32 values = 256 bytes, ending exactly at the end of the file.
            .tensor("output_norm.weight", &[64], GGML_F32, 128)
    }

    fn inspect_bytes(bytes: &[u8]) -> Result<GgufInfo, GgufError> {
        inspect_reader(bytes, bytes.len() as u64)
    }

    fn assert_invalid(result: Result<GgufInfo, GgufError>) {
        assert!(
            matches!(result, Err(GgufError::Invalid(_))),
            "expected Invalid, got {result:?}"
        );
    }

    fn assert_truncated(result: Result<GgufInfo, GgufError>) {
        assert!(
            matches!(result, Err(GgufError::Truncated)),
            "expected Truncated, got {result:?}"
        );
    }

    /// A header with the given counts followed by `rest`, for malformed input.
    fn raw_file(tensor_count: u64, metadata_count: u64, rest: Bytes) -> Vec<u8> {
        let mut bytes = Bytes(b"GGUF".to_vec())
            .u32(3)
            .u64(tensor_count)
            .u64(metadata_count);
        bytes.0.extend_from_slice(&rest.0);
        bytes.0
    }

    #[test]
    fn sample_file_reports_every_field() {
        let bytes = sample_file();
        let info = inspect_bytes(&bytes).expect("the sample file is valid");
        assert_eq!(
            info,
            GgufInfo {
                version: 3,
                tensor_count: 2,
                architecture: Some("llama".to_string()),
                name: Some("Tiny Test Model".to_string()),
                file_type: Some(3),
                quantization: "Q4_1".to_string(),
                parameters: 64 * 3 + 64,
                context_length: Some(2048),
                has_chat_template: true,
                file_size: bytes.len() as u64,
            }
        );
        assert_eq!(info.parameters_label(), "256");
    }

    #[test]
    fn version_2_is_accepted() {
        let bytes = TestFile::new(2)
            .kv("general.architecture", string_value("qwen2"))
            .build(32, 0);
        let info = inspect_bytes(&bytes).expect("version 2 is supported");
        assert_eq!(info.version, 2);
        assert_eq!(info.architecture.as_deref(), Some("qwen2"));
        assert_eq!(info.quantization, "unknown");
        assert_eq!(info.context_length, None);
        assert!(!info.has_chat_template);
    }

    #[test]
    fn inspect_reads_a_file_on_disk() {
        let bytes = sample_file();
        let path =
            std::env::temp_dir().join(format!("hearth-gguf-test-{}.gguf", std::process::id()));
        std::fs::write(&path, &bytes).expect("write the temporary file");
        let result = inspect(&path);
        let _ = std::fs::remove_file(&path);
        let info = result.expect("the sample file is valid on disk too");
        assert_eq!(info.file_size, bytes.len() as u64);
        assert_eq!(info.quantization, "Q4_1");

        let missing = inspect(Path::new("/nonexistent/hearth/model.gguf"));
        assert!(matches!(missing, Err(GgufError::Io(_))), "{missing:?}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample_file();
        let header_length = sample_test_file().header_bytes().len();
        for length in 0..bytes.len() {
            let prefix = &bytes[..length];
            // The file really is shorter...
            let short_file = inspect_reader(prefix, length as u64);
            assert!(short_file.is_err(), "a {length}-byte prefix was accepted");
            if length >= 4 {
                assert_truncated(short_file);
            }
            // ...or the file claims its full size but the reader stops early
            // (only the header is read, so only a cut inside it can show).
            if length < header_length {
                let short_read = inspect_reader(prefix, bytes.len() as u64);
                assert!(short_read.is_err(), "a {length}-byte read was accepted");
            }
        }
    }

    #[test]
    fn wrong_magic_is_not_gguf() {
        let mut bytes = sample_file();
        bytes[0] = b'X';
        assert!(matches!(inspect_bytes(&bytes), Err(GgufError::NotGguf)));
        assert!(matches!(inspect_bytes(b""), Err(GgufError::NotGguf)));
        assert!(matches!(inspect_bytes(b"GG"), Err(GgufError::NotGguf)));
        assert!(matches!(
            inspect_bytes(b"<html>not a model</html>"),
            Err(GgufError::NotGguf)
        ));
    }

    #[test]
    fn unsupported_versions_are_refused() {
        for version in [0, 1, 4, 0x0300_0000] {
            let bytes = TestFile::new(version).build(32, 0);
            let result = inspect_bytes(&bytes);
            assert!(
                matches!(result, Err(GgufError::UnsupportedVersion(v)) if v == version),
                "version {version}: {result:?}"
            );
        }
    }

    #[test]
    fn huge_counts_are_refused_without_allocating() {
        // Counts over the limits.
        assert_invalid(inspect_bytes(&raw_file(u64::MAX, 0, Bytes::default())));
        assert_invalid(inspect_bytes(&raw_file(100_001, 0, Bytes::default())));
        assert_invalid(inspect_bytes(&raw_file(0, u64::MAX, Bytes::default())));
        assert_invalid(inspect_bytes(&raw_file(0, 100_001, Bytes::default())));
        // Counts at the limits, in a tiny file: truncated, found at once.
        assert_truncated(inspect_bytes(&raw_file(100_000, 0, Bytes::default())));
        assert_truncated(inspect_bytes(&raw_file(0, 100_000, Bytes::default())));

        // A key length of u64::MAX, and just over 64 KiB.
        assert_invalid(inspect_bytes(&raw_file(
            0,
            1,
            Bytes::default().u64(u64::MAX),
        )));
        assert_invalid(inspect_bytes(&raw_file(
            0,
            1,
            Bytes::default().u64(64 * 1024 + 1),
        )));
        // A tensor name over the limit.
        assert_invalid(inspect_bytes(&raw_file(
            1,
            0,
            Bytes::default().u64(u64::MAX),
        )));

        // A string value of u64::MAX bytes, and just over 1 MiB.
        for length in [u64::MAX, MIB + 1] {
            let value = Bytes::default().string("k").u32(VALUE_STRING).u64(length);
            assert_invalid(inspect_bytes(&raw_file(0, 1, value)));
        }
        // A string within the limit but longer than the file.
        let value = Bytes::default().string("k").u32(VALUE_STRING).u64(MIB);
        assert_truncated(inspect_bytes(&raw_file(0, 1, value)));

        // Arrays: over the element limit, and at it in a tiny file.
        for element_type in [VALUE_U8, VALUE_STRING, VALUE_ARRAY, VALUE_BOOL, VALUE_U64] {
            let over = Bytes::default()
                .string("k")
                .u32(VALUE_ARRAY)
                .u32(element_type)
                .u64(u64::MAX);
            assert_invalid(inspect_bytes(&raw_file(0, 1, over)));
            let at_limit = Bytes::default()
                .string("k")
                .u32(VALUE_ARRAY)
                .u32(element_type)
                .u64(10_000_000);
            assert_truncated(inspect_bytes(&raw_file(0, 1, at_limit)));
        }
    }

    #[test]
    fn a_vocabulary_sized_array_passes() {
        let mut tokens = Bytes::default()
            .u32(VALUE_ARRAY)
            .u32(VALUE_STRING)
            .u64(262_144);
        for index in 0..262_144u32 {
            tokens = tokens.string(&format!("tok{index}"));
        }
        let bytes = TestFile::new(3)
            .kv("tokenizer.ggml.tokens", tokens)
            .build(32, 0);
        let info = inspect_bytes(&bytes).expect("a 262k-token vocabulary is normal");
        assert_eq!(info.tensor_count, 0);
    }

    #[test]
    fn array_nesting_is_limited() {
        // depth 1 = a plain array; each extra level wraps one more array.
        fn nested(depth: u32) -> Bytes {
            let mut value = Bytes::default().u32(VALUE_ARRAY);
            for _ in 1..depth {
                value = value.u32(VALUE_ARRAY).u64(1);
            }
            value.u32(VALUE_U8).u64(1).u8(5)
        }
        let four_deep = TestFile::new(3).kv("k", nested(4)).build(32, 0);
        inspect_bytes(&four_deep).expect("four levels are allowed");
        let five_deep = TestFile::new(3).kv("k", nested(5)).build(32, 0);
        assert_invalid(inspect_bytes(&five_deep));
    }

    #[test]
    fn header_budget_is_enforced() {
        let bytes = sample_file();
        let tight = Limits {
            max_header_bytes: 100,
            ..HEARTH_LIMITS
        };
        assert_invalid(inspect_with_limits(&bytes[..], bytes.len() as u64, tight));

        // A reader that never ends and a file claiming to be huge: the
        // budget, not the input, decides when we stop.
        let endless = raw_file(
            0,
            1,
            Bytes::default()
                .string("k")
                .u32(VALUE_ARRAY)
                .u32(VALUE_U8)
                .u64(10_000_000),
        )
        .into_iter()
        .chain(std::iter::repeat(0u8));
        struct IterReader<I>(I);
        impl<I: Iterator<Item = u8>> Read for IterReader<I> {
            fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                let mut written = 0;
                for slot in buffer.iter_mut() {
                    match self.0.next() {
                        Some(byte) => *slot = byte,
                        None => break,
                    }
                    written += 1;
                }
                Ok(written)
            }
        }
        let small_budget = Limits {
            max_header_bytes: 4096,
            ..HEARTH_LIMITS
        };
        assert_invalid(inspect_with_limits(
            IterReader(endless),
            u64::MAX,
            small_budget,
        ));
    }

    #[test]
    fn malformed_metadata_is_refused() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "duplicate key",
                TestFile::new(3)
                    .kv("general.name", string_value("a"))
                    .kv("general.name", string_value("b"))
                    .build(32, 0),
            ),
            (
                "empty key",
                TestFile::new(3).kv("", u32_value(1)).build(32, 0),
            ),
            (
                "key not UTF-8",
                raw_file(
                    0,
                    1,
                    Bytes::default()
                        .raw_string(&[0xff, 0xfe])
                        .u32(VALUE_U8)
                        .u8(0),
                ),
            ),
            (
                "unknown value type",
                TestFile::new(3)
                    .kv("k", Bytes::default().u32(13).u32(0))
                    .build(32, 0),
            ),
            (
                "unknown array element type",
                TestFile::new(3)
                    .kv("k", Bytes::default().u32(VALUE_ARRAY).u32(99).u64(0))
                    .build(32, 0),
            ),
            (
                "bool of 2",
                TestFile::new(3)
                    .kv("k", Bytes::default().u32(VALUE_BOOL).u8(2))
                    .build(32, 0),
            ),
            (
                "bool array holding 7",
                TestFile::new(3)
                    .kv(
                        "k",
                        Bytes::default()
                            .u32(VALUE_ARRAY)
                            .u32(VALUE_BOOL)
                            .u64(3)
                            .u8(0)
                            .u8(1)
                            .u8(7),
                    )
                    .build(32, 0),
            ),
            (
                "alignment not a power of two",
                TestFile::new(3)
                    .kv("general.alignment", u32_value(48))
                    .build(48, 0),
            ),
            (
                "alignment zero",
                TestFile::new(3)
                    .kv("general.alignment", u32_value(0))
                    .build(32, 0),
            ),
            (
                "alignment of the wrong type",
                TestFile::new(3)
                    .kv("general.alignment", Bytes::default().u32(VALUE_U64).u64(32))
                    .build(32, 0),
            ),
        ];
        for (what, bytes) in cases {
            let result = inspect_bytes(&bytes);
            assert!(
                matches!(result, Err(GgufError::Invalid(_))),
                "{what}: expected Invalid, got {result:?}"
            );
        }
    }

    #[test]
    fn malformed_tensors_are_refused() {
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            (
                "five dimensions",
                TestFile::new(3)
                    .tensor("t", &[1, 1, 1, 1, 1], GGML_F32, 0)
                    .build(32, 4),
                false,
            ),
            (
                "dimension count u32::MAX",
                raw_file(1, 0, Bytes::default().string("t").u32(u32::MAX)),
                false,
            ),
            (
                "element count overflows",
                TestFile::new(3)
                    .tensor("t", &[u64::MAX / 2, 4], GGML_F32, 0)
                    .build(32, 0),
                false,
            ),
            (
                "element count above i64::MAX",
                TestFile::new(3)
                    .tensor("t", &[1u64 << 63], GGML_F32, 0)
                    .build(32, 0),
                false,
            ),
            (
                "row not a whole number of blocks",
                TestFile::new(3)
                    .tensor("t", &[33], GGML_Q4_1, 0)
                    .build(32, 64),
                false,
            ),
            (
                "misaligned offset",
                TestFile::new(3)
                    .tensor("t", &[4], GGML_F32, 16)
                    .build(32, 64),
                false,
            ),
            (
                "duplicate tensor name",
                TestFile::new(3)
                    .tensor("t", &[8], GGML_F32, 0)
                    .tensor("t", &[8], GGML_F32, 32)
                    .build(32, 64),
                false,
            ),
            (
                "offset overflows",
                TestFile::new(3)
                    .tensor("t", &[8], GGML_F32, u64::MAX - 31)
                    .build(32, 64),
                false,
            ),
            (
                "data beyond the end of the file",
                TestFile::new(3)
                    .tensor("t", &[64], GGML_F32, 0)
                    .build(32, 255),
                true,
            ),
            (
                "unknown type starting beyond the end",
                TestFile::new(3).tensor("t", &[64], 200, 64).build(32, 32),
                true,
            ),
        ];
        for (what, bytes, expect_truncated) in cases {
            let result = inspect_bytes(&bytes);
            let matched = if expect_truncated {
                matches!(result, Err(GgufError::Truncated))
            } else {
                matches!(result, Err(GgufError::Invalid(_)))
            };
            assert!(matched, "{what}: got {result:?}");
        }
    }

    #[test]
    fn tensor_layout_details() {
        // A custom alignment, an unknown tensor type (size check skipped), a
        // scalar, and no general.file_type: quantization is guessed from the
        // type holding the most values (F16), not the most tensors (F32).
        let bytes = TestFile::new(3)
            .kv("general.alignment", u32_value(64))
            .tensor("norm.a", &[4], GGML_F32, 0)
            .tensor("norm.b", &[4], GGML_F32, 64)
            .tensor("scalar", &[], GGML_F32, 128)
            .tensor("weights", &[32, 2], GGML_F16, 192)
            .tensor("future", &[1000], 200, 320)
            .build(64, 320);
        let info = inspect_bytes(&bytes).expect("valid layout");
        assert_eq!(info.parameters, 4 + 4 + 1 + 64 + 1000);
        // The unknown type holds the most values and has no name, so the
        // honest guess is "unknown".
        assert_eq!(info.quantization, "unknown");

        let bytes = TestFile::new(3)
            .tensor("norm.a", &[4], GGML_F32, 0)
            .tensor("norm.b", &[4], GGML_F32, 32)
            .tensor("norm.c", &[4], GGML_F32, 64)
            .tensor("weights", &[32, 2], GGML_F16, 96)
            .build(32, 96 + 128);
        let info = inspect_bytes(&bytes).expect("valid layout");
        assert_eq!(info.quantization, "F16");

        // An unknown general.file_type falls back to the guess as well.
        let bytes = TestFile::new(3)
            .kv("general.file_type", u32_value(999))
            .tensor("weights", &[32, 2], GGML_Q4_1, 0)
            .build(32, 40);
        let info = inspect_bytes(&bytes).expect("valid layout");
        assert_eq!(info.file_type, Some(999));
        assert_eq!(info.quantization, "Q4_1");
    }

    #[test]
    fn parameters_label_reads_naturally() {
        let label = |parameters: u64| {
            GgufInfo {
                version: 3,
                tensor_count: 0,
                architecture: None,
                name: None,
                file_type: None,
                quantization: String::new(),
                parameters,
                context_length: None,
                has_chat_template: false,
                file_size: 0,
            }
            .parameters_label()
        };
        assert_eq!(label(0), "0");
        assert_eq!(label(999), "999");
        assert_eq!(label(1_500), "1.5K");
        assert_eq!(label(134_515_008), "135M");
        assert_eq!(label(1_543_714_304), "1.5B");
        assert_eq!(label(7_241_732_096), "7.2B");
        assert_eq!(label(70_553_706_496), "70.6B");
        assert_eq!(label(999_700_000), "1.0B");
        assert_eq!(label(405_000_000_000), "405B");
        assert_eq!(label(u64::MAX), "18446744T");
    }

    /// xorshift64: a deterministic, dependency-free source of junk.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000u32 {
            let length = (random.next() % 600) as usize;
            let junk: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
            // A third pure junk; the rest start like a GGUF file with small
            // counts so the parser gets past the first checks.
            let bytes = match round % 3 {
                0 => junk,
                flavour => {
                    let mut bytes = Bytes(b"GGUF".to_vec())
                        .u32(if flavour == 1 { 3 } else { 2 })
                        .u64(random.next() % 4)
                        .u64(random.next() % 8);
                    bytes.0.extend_from_slice(&junk);
                    bytes.0
                }
            };
            let _ = inspect_bytes(&bytes);
            // Also lie about the size: claimed bigger than the data.
            let _ = inspect_reader(&bytes[..], random.next() % 4096);
        }
    }

    #[test]
    fn mutated_files_never_panic() {
        let original = sample_file();
        let mut random = XorShift(0x2545_F491_4F6C_DD1D);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut bytes = original.clone();
            let index = (random.next() % bytes.len() as u64) as usize;
            bytes[index] = match random.next() % 4 {
                0 => 0,
                1 => 0xff,
                2 => bytes[index].wrapping_add(1),
                _ => random.next() as u8,
            };
            if inspect_bytes(&bytes).is_ok() {
                accepted += 1;
            }
        }
        // Most mutations land in tensor data or text, which stay valid.
        assert!(accepted > 0);
    }

    #[test]
    fn real_smollm2_model_if_present() {
        let Some(home) = std::env::var_os("HOME") else {
            eprintln!("skipped: HOME is not set, so the real model cannot be found");
            return;
        };
        let path = PathBuf::from(home).join(".cache/hearth/models/SmolLM2-135M-Instruct.Q4_1.gguf");
        if !path.exists() {
            eprintln!("skipped: {} is absent", path.display());
            return;
        }
        let started = Instant::now();
        let info = inspect(&path).expect("the real SmolLM2 model passes inspection");
        let elapsed = started.elapsed();
        eprintln!(
            "{}: {info:?}, {} parameters, inspected in {elapsed:?}",
            path.display(),
            info.parameters_label()
        );
        assert_eq!(info.architecture.as_deref(), Some("llama"));
        assert_eq!(info.quantization, "Q4_1");
        assert!(
            (134_000_000..=136_000_000).contains(&info.parameters),
            "{} parameters",
            info.parameters
        );
        assert!(info.has_chat_template);
        assert_eq!(info.context_length, Some(8192));
    }
}
