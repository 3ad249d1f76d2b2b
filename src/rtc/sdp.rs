//! A session description folded by section, for the inspectors: the session part, then one section per
//! media line (`m=`), each with a title that says what it negotiates ("video · mid 1 · sendrecv ·
//! VP8, VP9 · 3 candidates").
//!
//! The sections' texts joined in order are the description exactly, byte for byte, so the inspectors can
//! show the browser's SDP folded without changing a character of it (the end-to-end tests compare it with
//! `localDescription.sdp`). Pure; never fails: a text without `m=` lines is one session section.

/// One section of a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdpSection {
    /// What the section negotiates, in a few words.
    pub title: String,
    /// The section's lines, with their line endings, as the browser wrote them.
    pub text: String,
}

/// Splits `sdp` at each `m=` line. The first section is the session part (`v=`, `o=`, the bundle group,
/// the fingerprint when it is session-wide).
pub fn sections(sdp: &str) -> Vec<SdpSection> {
    let mut texts: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") && offset > start {
            texts.push(&sdp[start..offset]);
            start = offset;
        }
        offset += line.len();
    }
    if start < sdp.len() || texts.is_empty() {
        texts.push(&sdp[start..]);
    }
    texts
        .into_iter()
        .map(|text| SdpSection {
            title: title(text),
            text: text.to_owned(),
        })
        .collect()
}

fn title(text: &str) -> String {
    let lines = || text.lines().map(|l| l.trim_end_matches('\r'));
    let value = |prefix: &str| lines().find_map(|l| l.strip_prefix(prefix));
    let Some(media) = value("m=") else {
        let bundle = value("a=group:BUNDLE ")
            .map(|mids| {
                format!(
                    " · bundles mids {}",
                    mids.split_whitespace().collect::<Vec<_>>().join(", ")
                )
            })
            .unwrap_or_default();
        return format!("session{bundle}");
    };
    let kind = media.split_whitespace().next().unwrap_or("?");
    let mut parts = vec![match kind {
        "application" => "data channels (SCTP)".to_owned(),
        other => other.to_owned(),
    }];
    if let Some(mid) = value("a=mid:") {
        parts.push(format!("mid {mid}"));
    }
    if let Some(direction) = lines().find(|l| {
        matches!(
            *l,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        )
    }) {
        parts.push(direction[2..].to_owned());
    }
    let mut codecs: Vec<&str> = Vec::new();
    for rtpmap in lines().filter_map(|l| l.strip_prefix("a=rtpmap:")) {
        let name = rtpmap
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.split('/').next())
            .unwrap_or("");
        // Retransmission, redundancy and error correction are not codecs a person chose.
        if !name.is_empty()
            && !matches!(
                name,
                "rtx" | "red" | "ulpfec" | "flexfec-03" | "CN" | "telephone-event"
            )
            && !codecs.contains(&name)
        {
            codecs.push(name);
        }
    }
    if !codecs.is_empty() {
        parts.push(codecs.join(", "));
    }
    let candidates = lines().filter(|l| l.starts_with("a=candidate:")).count();
    match candidates {
        0 => {}
        1 => parts.push("1 candidate".to_owned()),
        n => parts.push(format!("{n} candidates")),
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str =
        "v=0\r\no=- 46 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n\
a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=mid:1\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 rtx/90000\r\na=rtpmap:98 VP9/90000\r\n\
a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n\
a=candidate:2 1 udp 1686052607 203.0.113.7 40000 typ srflx raddr 0.0.0.0 rport 0\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n";

    #[test]
    fn sections_join_back_to_the_description_exactly() {
        for sdp in [
            OFFER,
            "",
            "\n\n",
            "m=x",
            "v=0\r\n",
            "m=audio 9 RTP 0\n",
            "v=0\nm=video 9 RTP 96",
        ] {
            let joined: String = sections(sdp).into_iter().map(|s| s.text).collect();
            assert_eq!(joined, sdp);
        }
    }

    #[test]
    fn each_section_says_what_it_negotiates() {
        let titles: Vec<String> = sections(OFFER).into_iter().map(|s| s.title).collect();
        let expected = [
            "session · bundles mids 0, 1, 2",
            "audio · mid 0 · sendrecv · opus · 1 candidate",
            "video · mid 1 · recvonly · VP8, VP9 · 2 candidates",
            "data channels (SCTP) · mid 2",
        ];
        assert_eq!(titles, expected);
    }

    #[test]
    fn a_text_without_media_lines_is_one_session_section() {
        let parts = sections("v=0\r\ns=-\r\n");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].title, "session");
        assert_eq!(sections("").len(), 1);
    }

    #[test]
    fn a_description_that_starts_with_a_media_line_has_no_empty_session() {
        let parts = sections("m=audio 9 RTP 0\r\na=mid:a\r\n");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].title, "audio · mid a");
    }
}
