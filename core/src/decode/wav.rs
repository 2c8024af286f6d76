//! WAV files read as sox, ffmpeg and Python's `wave` read them.
//!
//! symphonia trusts a WAV's chunk lengths and refuses a file whose lengths disagree with the
//! file, although such files are common and their audio is intact: a trailing LIST chunk that
//! declares more than the file holds, a RIFF length not updated after a chunk was appended, a
//! recorder stopped before it patched its header (a data length of 0, of 2^32-1, or past the end
//! of the file), the format chunk after the data, RF64 and BW64 (ffmpeg's WAV over 4 GiB). So a WAV is first walked here, forgivingly:
//! its format chunk and the bytes of its audio are found, and symphonia is handed a canonical
//! header followed by exactly those bytes ([`Spliced`]). The rest of the file (metadata, cue
//! points) is left out; nothing of it reaches a transcript.
//!
//! Audio that the header declares but the file does not hold cannot be decoded; the shortfall
//! is reported ([`Layout::missing_bytes`]) so the caller can say so.

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

/// Largest format or fact chunk read (a format chunk is 16 to 40 bytes, some codecs add a few
/// dozen): a corrupt length must not make the reader allocate gigabytes.
const MAX_SMALL_CHUNK: u64 = 64 * 1024;

/// A data length meaning "until the end of the file" (ffmpeg writing to a pipe, RF64).
const UNKNOWN: u32 = u32::MAX;

/// Where a WAV file's audio is, and the canonical header that describes it.
#[derive(Debug)]
pub(super) struct Layout {
    header: Vec<u8>,
    data_start: u64,
    data_len: u64,
    missing_bytes: u64,
}

impl Layout {
    /// Bytes of audio the file's header declares beyond the end of the file.
    pub(super) fn missing_bytes(&self) -> u64 {
        self.missing_bytes
    }
}

/// Finds the audio of a WAV (RIFF, RF64 or BW64 with the WAVE form). `None` where the source is
/// not a WAV or has no format and data chunk to be found: symphonia then reads it as it is, and
/// says what is wrong with it.
pub(super) fn locate<R: Read + Seek>(source: &mut R, file_len: u64) -> io::Result<Option<Layout>> {
    let mut head = [0u8; 12];
    if read_at(source, 0, &mut head)? < head.len()
        || !matches!(&head[..4], b"RIFF" | b"RF64" | b"BW64")
        || &head[8..] != b"WAVE"
    {
        return Ok(None);
    }
    let mut format: Option<Vec<u8>> = None;
    let mut fact: Option<Vec<u8>> = None;
    // (start of the audio, bytes declared: None = until the end of the file)
    let mut data: Option<(u64, Option<u64>)> = None;
    let mut ds64_data_len: Option<u64> = None;
    let mut pos = 12;
    while let Some((id, len)) = chunk_header(source, pos, file_len)? {
        let body = pos + 8;
        let mut skip = u64::from(len);
        match &id {
            b"ds64" => {
                let mut sizes = [0u8; 16];
                if read_at(source, body, &mut sizes)? == sizes.len() {
                    let mut data_len = [0u8; 8];
                    data_len.copy_from_slice(&sizes[8..]);
                    ds64_data_len = Some(u64::from_le_bytes(data_len));
                }
            }
            b"fmt " => format = Some(read_body(source, body, len, file_len)?),
            b"fact" => fact = Some(read_body(source, body, len, file_len)?),
            b"data" => {
                let declared = match len {
                    UNKNOWN => ds64_data_len,
                    // A recorder that never patched its header, unless another chunk follows
                    // at once (an empty data chunk).
                    0 if chunk_header(source, body, file_len)?.is_none() => None,
                    n => Some(u64::from(n)),
                };
                skip = declared.unwrap_or(u64::MAX);
                data = Some((body, declared));
                if format.is_some() {
                    break;
                }
            }
            _ => {}
        }
        // RIFF pads odd-sized chunks to an even length.
        pos = body.saturating_add(skip).saturating_add(skip % 2);
    }
    let (Some(format), Some((data_start, declared))) = (format, data) else {
        return Ok(None);
    };
    if format.len() < 16 {
        return Ok(None);
    }
    let available = file_len.saturating_sub(data_start);
    let block_align = u64::from(u16::from_le_bytes([format[12], format[13]])).max(1);
    let whole = declared.map_or(available, |d| d.min(available));
    let data_len = whole - whole % block_align;
    let missing_bytes = declared.map_or(0, |d| d.saturating_sub(available));
    // A fact chunk counts the frames of compressed audio: wrong once audio is missing.
    let fact = fact.filter(|_| missing_bytes == 0);
    Ok(Some(Layout {
        header: canonical_header(&format, fact.as_deref(), data_len),
        data_start,
        data_len,
        missing_bytes,
    }))
}

/// `RIFF <len> WAVE`, the format chunk, the fact chunk if any, and the data chunk's header.
fn canonical_header(format: &[u8], fact: Option<&[u8]>, data_len: u64) -> Vec<u8> {
    let mut chunks = Vec::with_capacity(96);
    for (id, body) in [(b"fmt ", Some(format)), (b"fact", fact)] {
        let Some(body) = body else { continue };
        chunks.extend_from_slice(id);
        // Both bodies were read with at most MAX_SMALL_CHUNK bytes.
        chunks.extend_from_slice(&(body.len() as u32).to_le_bytes());
        chunks.extend_from_slice(body);
        if body.len() % 2 == 1 {
            chunks.push(0);
        }
    }
    // Over 4 GiB, both lengths say "unknown" and symphonia reads to the end of the source,
    // which ends where the audio does.
    let data_len32 = u32::try_from(data_len).ok().filter(|&n| n != UNKNOWN);
    let riff_len = data_len32
        .and_then(|n| u32::try_from(4 + chunks.len() + 8).ok()?.checked_add(n))
        .filter(|&n| n != UNKNOWN);
    let mut header = Vec::with_capacity(12 + chunks.len() + 8);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&riff_len.unwrap_or(UNKNOWN).to_le_bytes());
    header.extend_from_slice(b"WAVE");
    header.extend_from_slice(&chunks);
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len32.unwrap_or(UNKNOWN).to_le_bytes());
    header
}

/// The chunk header at `pos`: its four-character id and declared length. `None` at the end of
/// the file or where the bytes there are not a chunk header (a tail of garbage).
fn chunk_header<R: Read + Seek>(
    source: &mut R,
    pos: u64,
    file_len: u64,
) -> io::Result<Option<([u8; 4], u32)>> {
    if pos.saturating_add(8) > file_len {
        return Ok(None);
    }
    let mut bytes = [0u8; 8];
    if read_at(source, pos, &mut bytes)? < bytes.len() {
        return Ok(None);
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(&bytes[..4]);
    if !id.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Ok(None);
    }
    Ok(Some((
        id,
        u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
    )))
}

/// A small chunk's body, as much of it as the file holds.
fn read_body<R: Read + Seek>(
    source: &mut R,
    body: u64,
    len: u32,
    file_len: u64,
) -> io::Result<Vec<u8>> {
    let len = u64::from(len)
        .min(MAX_SMALL_CHUNK)
        .min(file_len.saturating_sub(body));
    let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
    let read = read_at(source, body, &mut bytes)?;
    bytes.truncate(read);
    Ok(bytes)
}

/// Fills `buf` from `pos` as far as the source goes; returns how many bytes were read.
fn read_at<R: Read + Seek>(source: &mut R, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    source.seek(SeekFrom::Start(pos))?;
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A WAV as symphonia should see it: the canonical header of a [`Layout`], then the audio bytes
/// of the underlying file, read in place (an hour-long recording is not copied).
pub(super) struct Spliced<R> {
    inner: R,
    layout: Layout,
    pos: u64,
}

impl<R: Read + Seek> Spliced<R> {
    pub(super) fn new(inner: R, layout: Layout) -> Self {
        Self {
            inner,
            layout,
            pos: 0,
        }
    }

    fn len(&self) -> u64 {
        self.layout.header.len() as u64 + self.layout.data_len
    }
}

impl<R: Read + Seek> Read for Spliced<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let header = &self.layout.header;
        if let Some(rest) = usize::try_from(self.pos)
            .ok()
            .and_then(|pos| header.get(pos..))
            .filter(|rest| !rest.is_empty())
        {
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n as u64;
            return Ok(n);
        }
        let offset = self.pos - header.len() as u64;
        let left = self.layout.data_len.saturating_sub(offset);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        self.inner
            .seek(SeekFrom::Start(self.layout.data_start + offset))?;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Spliced<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl<R: Read + Seek + Send + Sync> MediaSource for Spliced<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail by panicking

    use std::io::Cursor;

    use super::*;

    /// A 16-bit mono PCM WAV of `frames` frames, with `tail` after the data chunk.
    fn wav(frames: u16, data_len: u32, tail: &[u8]) -> Vec<u8> {
        let mut bytes = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 0, 1, 0]); // PCM, mono
        bytes.extend_from_slice(&16_000u32.to_le_bytes());
        bytes.extend_from_slice(&32_000u32.to_le_bytes());
        bytes.extend_from_slice(&[2, 0, 16, 0]);
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        for n in 0..frames {
            bytes.extend_from_slice(&n.to_le_bytes());
        }
        bytes.extend_from_slice(tail);
        bytes
    }

    fn spliced(bytes: Vec<u8>) -> (Vec<u8>, u64) {
        let len = bytes.len() as u64;
        let mut source = Cursor::new(bytes);
        let layout = locate(&mut source, len).unwrap().unwrap();
        let missing = layout.missing_bytes();
        let mut out = Vec::new();
        Spliced::new(source, layout).read_to_end(&mut out).unwrap();
        (out, missing)
    }

    #[test]
    fn a_well_formed_wav_comes_out_unchanged() {
        let mut file = wav(100, 200, &[]);
        let riff_len = file.len() as u32 - 8;
        file[4..8].copy_from_slice(&riff_len.to_le_bytes());
        assert_eq!(spliced(file.clone()), (file, 0));
    }

    #[test]
    fn lengths_that_disagree_with_the_file_are_mended() {
        // Data declared past the end of the file (a truncated recording), an odd byte cut
        // from the last frame.
        let (out, missing) = spliced(wav(100, 1_000, &[7]));
        assert_eq!(out.len(), 44 + 200);
        assert_eq!(missing, 799);
        assert_eq!(&out[40..44], &200u32.to_le_bytes());
        assert_eq!(&out[4..8], &236u32.to_le_bytes());
        // A recorder that never wrote the lengths: data until the end of the file.
        for unknown in [0, u32::MAX] {
            let (out, missing) = spliced(wav(100, unknown, &[]));
            assert_eq!((out.len(), missing), (244, 0));
        }
        // A trailing chunk that declares more than there is, after a correct data chunk.
        let (out, missing) = spliced(wav(100, 200, b"LIST\xff\xff\0\0INFO"));
        assert_eq!((out.len(), missing), (244, 0));
    }

    #[test]
    fn not_a_wav_is_left_to_symphonia() {
        let mut source = Cursor::new(b"fLaC\0\0\0\x22 and more".to_vec());
        assert!(locate(&mut source, 19).unwrap().is_none());
        let header_only = wav(0, 0, &[])[..30].to_vec();
        assert!(locate(&mut Cursor::new(header_only), 30).unwrap().is_none());
    }
}
