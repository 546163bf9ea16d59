// SPDX-License-Identifier: MIT
#include "probe_specs.h"

const struct probe_spec probe_specs[] = {
	{ ZS_FN_MSG_RECV, PROBE_SESSION, "zmq_msg_recv_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_MSG_RECV, PROBE_ENTRY, "zmq_msg_recv_entry", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_MSG_RECV, PROBE_RETURN, "zmq_msg_recv_return", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_RECV, PROBE_ENTRY, "zmq_recv_entry", PROBE_ALWAYS },
	{ ZS_FN_RECV, PROBE_RETURN, "zmq_recv_return", PROBE_ALWAYS },
	/* With sessions a blocking send takes no return trap: only DONTWAIT's result counts. */
	{ ZS_FN_MSG_SEND, PROBE_SESSION, "zmq_msg_send_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_MSG_SEND, PROBE_ENTRY, "zmq_msg_send_entry", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_MSG_SEND, PROBE_RETURN, "zmq_msg_send_return", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_SEND, PROBE_SESSION, "zmq_send_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_SEND, PROBE_ENTRY, "zmq_send_entry", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_SEND, PROBE_RETURN, "zmq_send_return", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_SEND_CONST, PROBE_SESSION, "zmq_send_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_SEND_CONST, PROBE_ENTRY, "zmq_send_entry", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_SEND_CONST, PROBE_RETURN, "zmq_send_return", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_GETSOCKOPT, PROBE_SESSION, "zmq_getsockopt_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_GETSOCKOPT, PROBE_ENTRY, "zmq_getsockopt_entry", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_GETSOCKOPT, PROBE_RETURN, "zmq_getsockopt_return", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_BIND, PROBE_ENTRY, "zmq_bind_entry", PROBE_ALWAYS },
	{ ZS_FN_BIND, PROBE_RETURN, "zmq_bind_return", PROBE_ALWAYS },
	{ ZS_FN_CONNECT, PROBE_ENTRY, "zmq_connect_entry", PROBE_ALWAYS },
	{ ZS_FN_CONNECT, PROBE_RETURN, "zmq_connect_return", PROBE_ALWAYS },
	{ ZS_FN_CLOSE, PROBE_ENTRY, "zmq_close_entry", PROBE_ALWAYS },
	{ ZS_FN_POLL, PROBE_ENTRY, "zmq_poll_entry", PROBE_ALWAYS },
	{ ZS_FN_PROXY, PROBE_ENTRY, "zmq_proxy_entry", PROBE_ALWAYS },
	{ ZS_FN_PROXY_STEERABLE, PROBE_ENTRY, "zmq_proxy_entry", PROBE_ALWAYS },
	{ ZS_FN_DEVICE, PROBE_ENTRY, "zmq_device_entry", PROBE_ALWAYS },
	{ ZS_FN_INTERNAL_SEND, PROBE_SESSION, "internal_send_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_INTERNAL_SEND, PROBE_ENTRY, "internal_send_entry", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_INTERNAL_RECV, PROBE_SESSION, "internal_recv_session", PROBE_WITH_SESSIONS },
	{ ZS_FN_INTERNAL_RECV, PROBE_ENTRY, "internal_recv_entry_prog", PROBE_WITHOUT_SESSIONS },
	{ ZS_FN_INTERNAL_RECV, PROBE_RETURN, "internal_recv_return_prog", PROBE_WITHOUT_SESSIONS },
	/*
	 * Last: a socket seen created was created with every other probe in
	 * place, so none of its traffic was missed.  That is what tells
	 * LMCache's state as complete (metrics_lmcache.c).
	 */
	{ ZS_FN_SOCKET, PROBE_ENTRY, "zmq_socket_entry", PROBE_ALWAYS },
	{ ZS_FN_SOCKET, PROBE_RETURN, "zmq_socket_return", PROBE_ALWAYS },
};

const size_t probe_spec_count = sizeof(probe_specs) / sizeof(probe_specs[0]);

_Static_assert(sizeof(probe_specs) / sizeof(probe_specs[0]) <= ZS_MAX_PROBES,
	       "ZS_MAX_PROBES must hold every probe of one object");
