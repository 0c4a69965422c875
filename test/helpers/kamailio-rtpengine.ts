/**
 * A Kamailio 5.6 configuration for the tests that put Kamailio's rtpengine module in front of an
 * NG relay: one worker, UDP on loopback, INVITEs record-routed to a UAS at `uasPort` with
 * rtpengine_offer/answer (the flags given), BYE with rtpengine_delete.
 */
const LOOP = '127.0.0.1';

export function kamailioRtpengineConfig(ngPort: number, uasPort: number, offerFlags: string, answerFlags: string): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "rtpengine.so"

modparam("rtpengine", "rtpengine_sock", "udp:${LOOP}:${ngPort}")
modparam("rtpengine", "rtpengine_tout_ms", 500)
modparam("rtpengine", "rtpengine_retr", 2)

request_route {
	if (has_totag()) {
		if (loose_route()) {
			if (is_method("BYE")) rtpengine_delete();
			t_relay();
			exit;
		}
		if (is_method("ACK") && t_check_trans()) t_relay();
		exit;
	}
	if (!is_method("INVITE")) {
		sl_send_reply("405", "Method Not Allowed");
		exit;
	}
	record_route();
	if (!rtpengine_offer("${offerFlags}")) {
		sl_send_reply("503", "No media relay");
		exit;
	}
	t_on_reply("MEDIA");
	$du = "sip:${LOOP}:${uasPort}";
	t_relay();
}

onreply_route[MEDIA] {
	if (has_body("application/sdp")) rtpengine_answer("${answerFlags}");
}
`;
}
