#!/usr/bin/python3
# A WHIP publisher built from GStreamer's own webrtcbin, as whipsink and simple-whip-client drive it: test video
# (VP8 or H264) and an Opus tone on sendonly transceivers, the offer POSTed as soon as webrtcbin has made it, the
# answer set, and the candidates webrtcbin gathers afterwards trickled by PATCH (application/trickle-ice-sdpfrag,
# one candidate per request, then end-of-candidates), as whipsink does. The bundle policy is webrtcbin's default
# (none) unless --bundle-policy says otherwise.
#
# It reports on stdout, one JSON object a line: {"event": "offer", "sdp"}, {"event": "answer", "status", "sdp",
# "location"}, {"event": "patch", "status"} per trickled candidate, {"event": "state", "state"} for webrtcbin's
# connection state, {"event": "error", "message"}. SIGTERM sends DELETE and exits 0.
#
# Run with Debian's /usr/bin/python3 (python3-gi); a pyenv interpreter has no gi.
import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO_PT = 96
AUDIO_PT = 97


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def pipeline_text(args):
    size = f"width={args.width},height={args.height},framerate={args.fps}/1"
    if args.video == "vp8":
        enc = f"vp8enc deadline=1 keyframe-max-dist={args.fps} target-bitrate=600000 ! rtpvp8pay pt={VIDEO_PT} picture-id-mode=15-bit"
        caps = f"application/x-rtp,media=video,encoding-name=VP8,payload={VIDEO_PT},clock-rate=90000"
    else:
        # x264enc's profile comes from the caps downstream of it, as a ceiling: x264 writes the lowest profile its
        # tools need, and ultrafast's (no CABAC, no 8x8 transform) are Constrained Baseline's, so other profiles
        # get veryfast. rtph264pay derives profile-level-id from the SPS (42c01e for Constrained Baseline 3.0,
        # 64001e for High 3.0 at 640x360), which is what GStreamer offers.
        preset = "ultrafast" if args.h264_profile in ("constrained-baseline", "baseline") else "veryfast"
        enc = (
            f"x264enc tune=zerolatency speed-preset={preset} key-int-max={args.fps} bitrate=600 ! "
            f"video/x-h264,profile={args.h264_profile} ! "
            f"rtph264pay pt={VIDEO_PT} config-interval=-1 aggregate-mode=zero-latency"
        )
        caps = f"application/x-rtp,media=video,encoding-name=H264,payload={VIDEO_PT},clock-rate=90000"
    parts = [
        f"webrtcbin name=webrtc bundle-policy={args.bundle_policy}",
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,{size} ! videoconvert ! queue ! {enc} ! {caps} ! webrtc.",
    ]
    if args.audio:
        parts.append(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.4 ! audioconvert ! audioresample ! queue ! "
            f"opusenc ! rtpopuspay pt={AUDIO_PT} ! "
            f"application/x-rtp,media=audio,encoding-name=OPUS,payload={AUDIO_PT},clock-rate=48000 ! webrtc."
        )
    return " ".join(parts)


class Publisher:
    def __init__(self, args):
        self.args = args
        self.pipe = Gst.parse_launch(pipeline_text(args))
        self.webrtc = self.pipe.get_by_name("webrtc")
        self.loop = GLib.MainLoop()
        self.location = None
        self.etag = None
        # Per media section: with bundle-policy none each has its own ICE agent stream and credentials.
        self.sections = []
        self.pending = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.done = False
        self.negotiated = False
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        self.webrtc.connect("notify::connection-state", self.on_state)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_bus_error)
        threading.Thread(target=self.trickle_worker, daemon=True).start()

    def start(self):
        # whipsink and simple-whip-client publish only: every transceiver sendonly.
        self.pipe.set_state(Gst.State.READY)
        for t in self.transceivers():
            t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.pipe.set_state(Gst.State.PLAYING)

    def transceivers(self):
        out = []
        i = 0
        while True:
            t = self.webrtc.emit("get-transceiver", i)
            if t is None:
                return out
            out.append(t)
            i += 1

    def on_bus_error(self, _bus, msg):
        err, debug = msg.parse_error()
        emit("error", message=f"{err.message} ({debug})")
        self.loop.quit()

    def on_negotiation_needed(self, element):
        # WHIP has one offer per session: a second negotiation (webrtcbin asks again when the answer rejected a
        # section) is reported, never POSTed.
        if self.negotiated:
            emit("renegotiation-needed")
            return
        self.negotiated = True
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, element, None)
        element.emit("create-offer", None, promise)

    def on_offer_created(self, promise, element, _data):
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None and reply.has_field("offer") else None
        if offer is None:
            emit("error", message=f"webrtcbin made no offer: {reply.to_string() if reply is not None else 'no reply'}")
            GLib.idle_add(self.loop.quit)
            return
        element.emit("set-local-description", offer, None)
        sdp = offer.sdp.as_text()
        for line in sdp.splitlines():
            if line.startswith("m="):
                self.sections.append({})
            elif self.sections and line.startswith("a=") and ":" in line:
                key, value = line[2:].split(":", 1)
                if key in ("ice-ufrag", "ice-pwd", "mid"):
                    self.sections[-1][key] = value
        emit("offer", sdp=sdp)
        threading.Thread(target=self.post_offer, args=(sdp,), daemon=True).start()

    def request(self, method, url, body=None, content_type=None, extra=None):
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if self.args.token:
            headers["Authorization"] = f"Bearer {self.args.token}"
        headers.update(extra or {})
        req = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, res.read().decode(), res.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers

    def post_offer(self, sdp):
        status, body, headers = self.request("POST", self.args.url, sdp, "application/sdp")
        location = headers.get("Location") if headers else None
        emit("answer", status=status, sdp=body, location=location)
        if status != 201 or not location:
            emit("error", message=f"POST answered {status}: {body[:300]}")
            GLib.idle_add(self.loop.quit)
            return
        ok, msg = GstSdp.SDPMessage.new_from_text(body)
        if ok != GstSdp.SDPResult.OK:
            emit("error", message="answer is not SDP")
            GLib.idle_add(self.loop.quit)
            return
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        self.webrtc.emit("set-remote-description", answer, None)
        with self.cond:
            self.location = urllib.parse.urljoin(self.args.url, location)
            self.etag = headers.get("ETag")
            self.cond.notify_all()

    def on_ice_candidate(self, _element, mline, candidate):
        with self.cond:
            self.pending.append((mline, candidate))
            self.cond.notify_all()

    def on_gathering(self, element, _pspec):
        if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            with self.cond:
                self.pending.append((None, None))
                self.cond.notify_all()

    def frag(self, mline, candidate):
        section = self.sections[mline if mline is not None and mline < len(self.sections) else 0]
        lines = [f"a=ice-ufrag:{section.get('ice-ufrag')}", f"a=ice-pwd:{section.get('ice-pwd')}"]
        if candidate is None:
            lines += ["m=audio 9 RTP/AVP 0", "a=end-of-candidates"]
        else:
            lines += ["m=audio 9 RTP/AVP 0", f"a=mid:{section.get('mid', mline)}", f"a={candidate}"]
        return "\r\n".join(lines) + "\r\n"

    def trickle_worker(self):
        if self.args.no_trickle:
            return
        while True:
            with self.cond:
                while not self.done and (self.location is None or not self.pending):
                    self.cond.wait()
                if self.done:
                    return
                mline, candidate = self.pending.pop(0)
                location, etag = self.location, self.etag
            extra = {"If-Match": etag} if etag else {}
            status, body, _ = self.request("PATCH", location, self.frag(mline, candidate), "application/trickle-ice-sdpfrag", extra)
            emit("patch", status=status, candidate=candidate, body=body[:200])

    def on_state(self, element, _pspec):
        state = element.get_property("connection-state")
        emit("state", state=state.value_nick)

    def stop(self, *_):
        with self.cond:
            self.done = True
            location = self.location
            self.cond.notify_all()
        if location:
            status, _, _ = self.request("DELETE", location)
            emit("deleted", status=status)
        self.pipe.set_state(Gst.State.NULL)
        self.loop.quit()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="WHIP endpoint, e.g. http://127.0.0.1:8080/api/whip/publish/room")
    p.add_argument("--video", choices=["vp8", "h264"], default="vp8")
    p.add_argument("--h264-profile", choices=["constrained-baseline", "baseline", "main", "high"], default="constrained-baseline")
    p.add_argument("--no-audio", dest="audio", action="store_false")
    p.add_argument("--bundle-policy", choices=["none", "balanced", "max-compat", "max-bundle"], default="none")
    p.add_argument("--no-trickle", action="store_true", help="keep the candidates (the offer carries none)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--token")
    args = p.parse_args()
    Gst.init(None)
    missing = [
        e
        for e in ["webrtcbin", "nicesrc", "videotestsrc", "audiotestsrc", "opusenc", "rtpopuspay", "vp8enc", "rtpvp8pay", "x264enc", "rtph264pay"]
        if Gst.ElementFactory.find(e) is None
    ]
    if missing:
        emit("error", message=f"GStreamer elements missing: {', '.join(missing)}")
        sys.exit(3)
    pub = Publisher(args)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: pub.stop() or False)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: pub.stop() or False)
    pub.start()
    pub.loop.run()


if __name__ == "__main__":
    main()
