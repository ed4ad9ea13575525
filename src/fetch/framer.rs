//! The response framer: finds where the final HTTP response message begins and ends in the bytes
//! received on a connection (RFC 9112 §6.3), and where its content is.
//!
//! hyper buffers reads, so the recorded bytes can hold more than the message: interim `1xx` heads
//! before it, and surplus after it (a body on a 204/304, more data than Content-Length). The WARC
//! response record must hold exactly the final message (WARC 1.1 §6.3.2), so the framer cuts it, and
//! lists the content ranges with the transfer coding removed (the payload, WARC 1.1 §5.9). It
//! parses leniently (obsolete line folding, spaces before the colon, invalid header lines are
//! tolerated) because a capture is archived as received. [`frame_request`] frames a request the
//! same way, for `harvestd verify` (WARC request records).

use std::ops::Range;

/// Where the final response is in a received byte string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    /// Offset of the final (non-1xx) response's status line.
    pub start: usize,
    /// Offset just past the final head's blank line.
    pub head_end: usize,
    /// The final status code (0 for a request).
    pub status: u16,
    /// The final head's header fields, as (name, value) in order; values as bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Offset just past the message (≤ the input length).
    pub end: usize,
    /// Whether the whole message is present (its framing says it ended).
    pub complete: bool,
    /// The content, transfer coding removed: byte ranges of the input, in order.
    pub payload: Vec<Range<usize>>,
    /// Whether the body was delimited by the connection's close (no length framing).
    pub close_delimited: bool,
}

impl Framed {
    /// The first header value named `name` (case-insensitive), lossily decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
    }

    /// The first header value named `name` as a URL reference (`Location`, `Refresh`): bytes
    /// outside ASCII, which a server may send raw, are percent-encoded as they are (`\xE9` →
    /// `%E9`), as browsers do, instead of being decoded as UTF-8 (which would turn them into
    /// U+FFFD and send the crawler elsewhere).
    pub fn header_url(&self, name: &str) -> Option<String> {
        let (_, v) = self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        let mut out = String::with_capacity(v.len());
        for &b in v.trim_ascii() {
            if b.is_ascii() {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        Some(out)
    }

    /// Whether bytes follow the message (surplus: the connection must not be reused).
    pub fn has_surplus(&self, input_len: usize) -> bool {
        self.end < input_len
    }
}

/// Why no final response head could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes end before a complete head.
    #[error("response head incomplete")]
    Incomplete,
    /// The head does not parse even leniently.
    #[error("response head unparseable: {0}")]
    Invalid(String),
}

const MAX_HEADERS: usize = 1024;

/// Frames the final response in `buf`. `head_request` says whether the request was HEAD (no
/// body); `eof` whether the connection ended after `buf` (a close-delimited body is complete only
/// then).
pub fn frame_response(buf: &[u8], head_request: bool, eof: bool) -> Result<Framed, FrameError> {
    let mut start = 0;
    loop {
        let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let parsed = httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(true)
            .allow_spaces_after_header_name_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .allow_multiple_spaces_in_response_status_delimiters(true)
            .parse_response(&mut resp, &buf[start..]);
        let head_len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err(FrameError::Incomplete),
            Err(e) => return Err(FrameError::Invalid(e.to_string())),
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            start += head_len; // interim response: the record starts at the final head
            continue;
        }
        let head_end = start + head_len;
        let fields: Vec<(String, Vec<u8>)> =
            resp.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();
        return Ok(frame_body(buf, start, head_end, status, fields, Message::Response { head_request, eof }));
    }
}

/// Frames the HTTP request at the start of `buf` (the whole request as sent, e.g. a WARC request
/// record's block). Its body is framed by chunked transfer coding or Content-Length; a request with
/// neither has no body (RFC 9112 §6.3, item 7). The result's `status` is 0.
pub fn frame_request(buf: &[u8]) -> Result<Framed, FrameError> {
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .parse_request(&mut req, buf);
    let head_end = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(FrameError::Incomplete),
        Err(e) => return Err(FrameError::Invalid(e.to_string())),
    };
    let fields = req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();
    Ok(frame_body(buf, 0, head_end, 0, fields, Message::Request))
}

/// Which message a body belongs to (the rules differ: RFC 9112 §6.3).
#[derive(Clone, Copy)]
enum Message {
    /// A response: `head_request` says it answers HEAD, `eof` that the connection ended after it.
    Response { head_request: bool, eof: bool },
    /// A request: no length means no body.
    Request,
}

fn frame_body(
    buf: &[u8],
    start: usize,
    head_end: usize,
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    message: Message,
) -> Framed {
    let (head_request, eof, request) = match message {
        Message::Response { head_request, eof } => (head_request, eof, false),
        Message::Request => (false, true, true),
    };
    let mut f = Framed {
        start,
        head_end,
        status,
        headers,
        end: head_end,
        complete: true,
        payload: Vec::new(),
        close_delimited: false,
    };
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return f;
    }
    let te: Vec<String> = f
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v).split(',').map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if !te.is_empty() {
        if te.last().map(String::as_str) == Some("chunked") {
            frame_chunked(buf, &mut f);
        } else {
            frame_close(buf, &mut f, eof);
        }
        return f;
    }
    let lengths: Vec<Option<u64>> = f
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v).split(',').map(|s| s.trim().parse::<u64>().ok()).collect::<Vec<_>>()
        })
        .collect();
    match lengths.first() {
        Some(Some(n)) if lengths.iter().all(|l| *l == Some(*n)) => {
            let want = (head_end as u64).saturating_add(*n);
            let end = (want.min(buf.len() as u64)) as usize;
            f.end = end;
            f.complete = end as u64 == want;
            f.payload.push(head_end..end);
        }
        // A request without a length has no body (RFC 9112 §6.3 item 7).
        None if request => {}
        // No (or an unusable) Content-Length: a response body runs to the connection's close.
        _ => frame_close(buf, &mut f, eof),
    }
    f
}

fn frame_close(buf: &[u8], f: &mut Framed, eof: bool) {
    f.close_delimited = true;
    f.end = buf.len();
    f.complete = eof;
    f.payload.push(f.head_end..buf.len());
}

/// Finds the end of a line starting at `at`: (offset of the line's end, offset after its LF).
fn line_end(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let nl = buf[at..].iter().position(|&b| b == b'\n')? + at;
    let end = if nl > at && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Some((end, nl + 1))
}

fn frame_chunked(buf: &[u8], f: &mut Framed) {
    let mut p = f.head_end;
    f.complete = false;
    loop {
        let Some((le, next)) = line_end(buf, p) else {
            f.end = buf.len();
            return;
        };
        let line = &buf[p..le];
        let hex_len = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let size = std::str::from_utf8(&line[..hex_len]).ok().and_then(|s| u64::from_str_radix(s, 16).ok());
        let Some(size) = size else {
            // Not a chunk-size line: the framing is broken here; keep what arrived.
            f.end = buf.len();
            return;
        };
        p = next;
        if size == 0 {
            // Trailer section: header lines up to an empty line.
            loop {
                let Some((le, next)) = line_end(buf, p) else {
                    f.end = buf.len();
                    return;
                };
                let empty = le == p;
                p = next;
                if empty {
                    f.end = p;
                    f.complete = true;
                    return;
                }
            }
        }
        let data_end = (p as u64).saturating_add(size);
        if data_end > buf.len() as u64 {
            f.payload.push(p..buf.len());
            f.end = buf.len();
            return;
        }
        let data_end = data_end as usize;
        f.payload.push(p..data_end);
        p = data_end;
        match line_end(buf, p) {
            Some((le, next)) if le == p => p = next,
            Some(_) => {
                f.end = buf.len();
                return;
            }
            None => {
                f.end = buf.len();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(buf: &[u8], f: &Framed) -> Vec<u8> {
        f.payload.iter().flat_map(|r| buf[r.clone()].to_vec()).collect()
    }

    #[test]
    fn raw_non_ascii_location_bytes_are_percent_encoded_as_sent() {
        let buf =
            b"HTTP/1.1 302 Found\r\nLocation:  /caf\xe9?q=\xff \r\nRefresh: 0; url=/x\r\nContent-Length: 0\r\n\r\n";
        let f = frame_response(buf, false, true).unwrap();
        let loc = f.header_url("location").unwrap();
        assert_eq!(loc, "/caf%E9?q=%FF");
        let base = url::Url::parse("http://example.com/redir").unwrap();
        assert_eq!(base.join(&loc).unwrap().as_str(), "http://example.com/caf%E9?q=%FF");
        assert_eq!(f.header_url("refresh").as_deref(), Some("0; url=/x"));
        assert_eq!(f.header_url("etag"), None);
    }

    #[test]
    fn content_length_cuts_surplus() {
        let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcSURPLUS";
        let f = frame_response(buf, false, false).unwrap();
        assert_eq!(&buf[f.start..f.end], b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
        assert!(f.complete && f.has_surplus(buf.len()));
        assert_eq!(payload(buf, &f), b"abc");
    }

    #[test]
    fn interim_heads_are_skipped() {
        let buf = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let f = frame_response(buf, false, true).unwrap();
        assert!(buf[f.start..].starts_with(b"HTTP/1.1 200 OK"));
        assert_eq!(f.status, 200);
        assert_eq!(f.end, buf.len());
    }

    #[test]
    fn no_content_has_no_body() {
        let buf = b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\nstray bytes";
        let f = frame_response(buf, false, false).unwrap();
        assert_eq!(&buf[..f.end], b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n");
        assert!(f.payload.is_empty());
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let f = frame_response(buf, false, false).unwrap();
        assert!(f.complete);
        assert_eq!(payload(buf, &f), b"abcde");
        assert_eq!(&buf[f.end..], b"NEXT");
    }

    #[test]
    fn chunked_truncated_is_incomplete() {
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        let f = frame_response(buf, false, true).unwrap();
        assert!(!f.complete);
        assert_eq!(payload(buf, &f), b"ab");
        assert_eq!(f.end, buf.len());
    }

    #[test]
    fn close_delimited_complete_only_at_eof() {
        let buf = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert!(!frame_response(buf, false, false).unwrap().complete);
        let f = frame_response(buf, false, true).unwrap();
        assert!(f.complete && f.close_delimited);
        assert_eq!(payload(buf, &f), b"body");
    }

    #[test]
    fn head_request_has_no_body() {
        let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let f = frame_response(buf, true, false).unwrap();
        assert!(f.complete && f.payload.is_empty());
    }

    #[test]
    fn lenient_folding_and_space_before_colon() {
        let buf = b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length : 1\r\n\r\nz";
        let f = frame_response(buf, false, false).unwrap();
        assert_eq!(f.status, 200);
        assert_eq!(f.end, buf.len());
    }

    #[test]
    fn absurd_lengths_do_not_overflow() {
        let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nhello";
        let f = frame_response(buf, false, true).unwrap();
        assert!(!f.complete);
        assert_eq!(f.end, buf.len());
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc";
        let f = frame_response(buf, false, true).unwrap();
        assert!(!f.complete);
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nabc";
        assert!(!frame_response(buf, false, true).unwrap().complete);
    }

    #[test]
    fn requests_frame_by_length_chunks_or_nothing() {
        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let f = frame_request(get).unwrap();
        assert!(f.complete && f.payload.is_empty() && !f.close_delimited);
        assert_eq!(f.end, get.len());
        let post = b"POST /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let f = frame_request(post).unwrap();
        assert_eq!((payload(post, &f), f.end, f.complete), (b"abc".to_vec(), post.len(), true));
        let chunked = b"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
        let f = frame_request(chunked).unwrap();
        assert_eq!((payload(chunked, &f), f.complete), (b"ab".to_vec(), true));
        assert!(matches!(frame_request(b"HTTP/1.1 200 OK\r\n\r\n"), Err(FrameError::Invalid(_))));
    }

    #[test]
    fn garbage_is_invalid() {
        assert!(matches!(frame_response(b"\x00\x01garbage\r\n\r\n", false, true), Err(FrameError::Invalid(_))));
        assert_eq!(frame_response(b"HTTP/1.1 200 OK\r\nX: ", false, false), Err(FrameError::Incomplete));
    }
}
