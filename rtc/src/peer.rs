//! Peer connections on the `webrtc` crate, set up the same way for the room and for headless
//! clients: the codecs a call uses (Opus, VP8, H.264), the default interceptors (NACK
//! generation and retransmission, sender and receiver reports, transport-wide congestion
//! control feedback) plus one that hands keyframe requests to the application (the SFU relays
//! them to the publisher), host candidates on the configured addresses, no mDNS, and ICE
//! timeouts short enough to notice a participant that vanished.
//!
//! A connection's callbacks run on its driver task, so the handler only forwards them into a
//! channel ([`PeerEvent`]); the owner reacts on its own task.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dragoman_core::{Error, Result};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    Attribute, Interceptor, Packet as InterceptorPacket, StreamInfo, TaggedPacket,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder, Slot, register_default_interceptors,
};

/// The room's RTP payload types: it offers them on every subscriber connection, and
/// forwarded packets are renumbered to them (see [`payload_type`]). Opus's:
pub const OPUS_PT: u8 = 111;
/// VP8's payload type.
pub const VP8_PT: u8 = 96;
/// H.264's payload type (constrained baseline, packetization mode 1, as browsers offer).
pub const H264_PT: u8 = 102;

/// Network settings of peer connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkOptions {
    /// UDP addresses to bind, one socket each per connection (`IP:0` for any port). A wildcard
    /// address stands for every interface except loopback. Defaults to `127.0.0.1:0`.
    pub udp_addresses: Vec<String>,
    /// Without traffic for this long a connection is `disconnected`. Defaults to 2 s.
    pub ice_disconnected: Duration,
    /// After this long disconnected it is `failed`: the participant is gone. Defaults to 5 s.
    pub ice_failed: Duration,
    /// Keepalive interval. Defaults to 1 s.
    pub ice_keepalive: Duration,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        Self {
            udp_addresses: vec!["127.0.0.1:0".into()],
            ice_disconnected: Duration::from_secs(2),
            ice_failed: Duration::from_secs(5),
            ice_keepalive: Duration::from_secs(1),
        }
    }
}

/// The payload type the room's connections use for `codec` (by MIME type). Each browser
/// picks its own numbers when it offers (Firefox: Opus 109, VP8 120), but the room makes the
/// offers on subscriber connections, so there every codec has the room's number, and
/// forwarded packets are renumbered to it.
pub fn payload_type(codec: &RTCRtpCodec) -> Option<u8> {
    let mime = codec.mime_type.to_ascii_lowercase();
    [
        (MIME_TYPE_OPUS, OPUS_PT),
        (MIME_TYPE_VP8, VP8_PT),
        (MIME_TYPE_H264, H264_PT),
    ]
    .into_iter()
    .find(|(m, _)| m.eq_ignore_ascii_case(&mime))
    .map(|(_, pt)| pt)
}

/// Opus as browsers negotiate it (stereo in SDP, in-band FEC).
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![feedback("transport-cc", "")],
    }
}

fn feedback(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    }
}

fn video_feedback() -> Vec<RTCPFeedback> {
    vec![
        feedback("goog-remb", ""),
        feedback("transport-cc", ""),
        feedback("ccm", "fir"),
        feedback("nack", ""),
        feedback("nack", "pli"),
    ]
}

/// VP8.
pub fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: video_feedback(),
    }
}

/// H.264 constrained baseline.
pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .to_owned(),
        rtcp_feedback: video_feedback(),
    }
}

/// What a connection reports to its owner.
pub enum PeerEvent {
    /// A local ICE candidate to trickle to the other side.
    Candidate(RTCIceCandidateInit),
    /// The connection's state changed.
    State(RTCPeerConnectionState),
    /// The other side's track started (its first packet arrived).
    Track(Arc<dyn TrackRemote>),
    /// The other side opened a data channel.
    DataChannel(Arc<dyn DataChannel>),
}

impl std::fmt::Debug for PeerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Candidate(c) => write!(f, "Candidate({})", c.candidate),
            Self::State(s) => write!(f, "State({s})"),
            Self::Track(_) => f.write_str("Track"),
            Self::DataChannel(_) => f.write_str("DataChannel"),
        }
    }
}

/// Forwards a connection's callbacks into a channel (never blocking the driver: the channel
/// is unbounded, and carries only signaling-rate events, never media).
struct Forwarder(mpsc::UnboundedSender<PeerEvent>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = self.0.send(PeerEvent::Candidate(init));
            }
            Err(e) => log::warn!("unusable local ICE candidate: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.0.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.0.send(PeerEvent::Track(track));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.0.send(PeerEvent::DataChannel(channel));
    }
}

/// Marks incoming keyframe requests (PLI, FIR) for delivery to the application: without it
/// the interceptor chain consumes all RTCP and the SFU could not relay them to the publisher.
#[derive(Default)]
struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = webrtc::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut message: TaggedPacket) -> std::result::Result<(), Self::Error> {
        if let InterceptorPacket::Rtcp(packets) = &message.message.packet
            && packets.iter().any(|p| {
                let p = p.as_any();
                p.is::<PictureLossIndication>() || p.is::<FullIntraRequest>()
            })
        {
            message.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(message);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, message: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.write.push_back(message);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

fn rtc_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

/// A new peer connection and the channel of its events. Must be called on a Tokio runtime.
pub async fn connect(
    network: &NetworkOptions,
) -> Result<(Arc<dyn PeerConnection>, mpsc::UnboundedReceiver<PeerEvent>)> {
    let mut media = MediaEngine::default();
    for (codec, payload_type, kind) in [
        (opus_codec(), OPUS_PT, RtpCodecKind::Audio),
        (vp8_codec(), VP8_PT, RtpCodecKind::Video),
        (h264_codec(), H264_PT, RtpCodecKind::Video),
    ] {
        media
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: codec,
                    payload_type,
                },
                kind,
            )
            .map_err(|e| rtc_error("registering a codec", e))?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| rtc_error("registering interceptors", e))?
        // After the named slots (1 000 to 13 000): the application end of the chain.
        .with(Slot::from(14_000), KeyframeRequests::default());
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_timeouts(
            Some(network.ice_disconnected),
            Some(network.ice_failed),
            Some(network.ice_keepalive),
        )
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let connection = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(Arc::new(Forwarder(tx)))
        .with_udp_addrs(network.udp_addresses.clone())
        .build()
        .await
        .map_err(|e| rtc_error("creating a peer connection", e))?;
    Ok((Arc::new(connection), rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_map_to_the_rooms_payload_types_whatever_the_publisher_chose() {
        let mut opus = opus_codec();
        opus.mime_type = "audio/OPUS".into();
        assert_eq!(payload_type(&opus), Some(OPUS_PT));
        let vp8 = RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_lowercase(),
            ..Default::default()
        };
        assert_eq!(payload_type(&vp8), Some(VP8_PT));
        let av1 = RTCRtpCodec {
            mime_type: "video/AV1".into(),
            ..Default::default()
        };
        assert_eq!(payload_type(&av1), None);
    }
}
