// Package vrrp implements VRRP version 2 (RFC 3768, with the simple-text
// "PASS" authentication keepalived still sends) and version 3 (RFC 5798):
// the packet codec, the per-instance state machine and raw IPv4 and IPv6 transports.
//
// The state machine takes its Transport, Clock, link checker and script
// runner as options, so every transition is unit-tested with fake time;
// RawTransport is the production transport and vip.Owner the production
// VIPOwner. It interoperates with keepalived 2.2 (v2 PASS and v3) in both
// roles.
//
// Behaviour choices, where the RFCs leave room or keepalived differs:
//
//   - Timers follow the RFCs: Master_Down_Interval is three times
//     Master_Adver_Interval plus Skew_Time, with Skew_Time = (256−Priority)/256 s in v2 and
//     ((256−Priority)×Master_Adver_Interval)/256 in whole centiseconds in v3
//     (keepalived computes the same). A v3 backup adopts the master's
//     advertised interval.
//   - config State "MASTER" below priority 255 starts in Backup and waits
//     Master_Down_Interval, exactly like "BACKUP" (keepalived 2.2 does the
//     same), so a restarting node cannot briefly duplicate a live master.
//     Priority 255 (address owner) becomes Master at once.
//   - Preemption: a backup that may preempt discards lower-priority adverts
//     (RFC 5798 §6.4.2), so it takes over when its Master_Down_Timer runs
//     out. preempt_delay starts at the first lower-priority advert; until
//     it has passed such adverts reset the timer as with nopreempt.
//   - Receive checks (each counted in Stats.Invalid by Reason): TTL 255,
//     version, type, length, checksum, VRID (other VRIDs are counted as
//     wrong_vrid and logged at debug only), v2 auth type and password, v2
//     advert interval equal to ours, and the address list (dropped in v2
//     per RFC 3768; in v3 accepted only from priority 255, per RFC 5798).
//   - Fault: the VRRP interface and every track_interface are polled; any
//     down (not up, or without carrier) puts the instance in FAULT: a
//     master sends priority 0 (best effort), VIPs are released, and no
//     adverts are sent or acted on until all are up again.
//   - Notify scripts run as "/bin/sh -c SCRIPT" with no extra arguments,
//     like keepalived's notify_master/notify_backup/notify_fault, with
//     XLB_VRRP_TYPE=INSTANCE, XLB_VRRP_NAME, XLB_VRRP_STATE and
//     XLB_VRRP_PRIORITY in the environment. They run in the background,
//     killed after the script timeout (30 s by default); Run waits for
//     running scripts before returning.
//   - Sync groups (keepalived's vrrp_sync_group, SyncGroup): members share
//     FAULT, become Master only together, and a Master preempted by a
//     better one takes the other Masters to Backup with priority 0.
//   - IPv4 instances use RawTransport (224.0.0.18), IPv6 ones (version 3
//     only) RawTransport6 (ff02::12, from the link-local address); one
//     instance carries one family.
package vrrp
