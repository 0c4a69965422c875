// Signaling sockets on the main event loop with batched system calls. A readable socket is
// drained with recvmmsg, and its datagrams reach JavaScript in one call per batch instead of
// one callback (with its own microtask checkpoint) per datagram. Sends made while that call
// runs, including from the promises it settles, are queued and leave in one sendmmsg when it
// returns; sends at any other time go out at once.
//
// JavaScript sees: open(host, port, meta, onBatch, bufferBytes) -> handle; send(handle, buf, port, address);
// port(handle); queue(handle) -> [bytes queued, receive buffer bytes, datagrams dropped]; close(handle). onBatch(data, addresses, count) gets one
// buffer holding the batch's datagrams back to back; meta (a Uint32Array the caller owns)
// holds [offset, length, port] per datagram, addresses the source address of each. onBatch's
// fourth argument is how long the batch's first (oldest) datagram waited in the socket's queue,
// in microseconds (the kernel's receive timestamp, SO_TIMESTAMPNS), or -1 when unknown.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/sock_diag.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 64
#define DRAIN_ROUNDS 4
#define MAX_DATAGRAM 65536
#define SEND_AREA (256 * 1024)

typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd;
  int family; // AF_INET6 (dual-stack or v6) or AF_INET
  int open;
  int in_batch;
  int poll_closed, handle_dropped;
  napi_ref on_batch;
  napi_ref meta_ref;
  napi_async_context async;
  uint32_t *meta;
  // receive
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  struct sockaddr_in6 raddr[BATCH];
  // the first datagram's receive timestamp (SCM_TIMESTAMPNS)
  char rctl[CMSG_SPACE(sizeof(struct timespec))];
  char *rbuf;
  // send queue
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  struct sockaddr_in6 saddr[BATCH];
  char *sbuf;
  size_t sused;
  int scount;
  // last destination parsed, so a reply stream to one peer parses its address once
  char last_text[64];
  size_t last_len;
  struct sockaddr_in6 last_addr;
} signal_socket_t;

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error(env, "SY_NATIVE", "native signaling: " #call " failed");                 \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

static void flush(signal_socket_t *s) {
  int done = 0;
  while (done < s->scount) {
    int n = sendmmsg(s->fd, s->smsg + done, (unsigned)(s->scount - done), MSG_DONTWAIT);
    if (n > 0) {
      done += n;
    } else {
      if (n < 0 && errno == EINTR) continue;
      // The datagram at `done` failed (an unreachable peer, a full buffer): UDP loses it, as a
      // network would, and the rest still go.
      done++;
    }
  }
  s->scount = 0;
  s->sused = 0;
}

static int parse_address(signal_socket_t *s, const char *text, size_t len, uint16_t port, struct sockaddr_in6 *out, socklen_t *out_len) {
  if (len == s->last_len && memcmp(text, s->last_text, len) == 0) {
    *out = s->last_addr;
  } else {
    struct in_addr a4;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, &a4) == 1) {
      if (s->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_addr = a4;
      } else {
        out->sin6_family = AF_INET6;
        out->sin6_addr.s6_addr[10] = 0xff;
        out->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&out->sin6_addr.s6_addr[12], &a4, 4);
      }
    } else if (inet_pton(AF_INET6, text, &out->sin6_addr) == 1) {
      if (s->family == AF_INET) {
        if (!IN6_IS_ADDR_V4MAPPED(&out->sin6_addr)) return 0;
        struct in_addr mapped;
        memcpy(&mapped, &out->sin6_addr.s6_addr[12], 4);
        memset(out, 0, sizeof *out);
        ((struct sockaddr_in *)out)->sin_family = AF_INET;
        ((struct sockaddr_in *)out)->sin_addr = mapped;
      } else {
        out->sin6_family = AF_INET6;
      }
    } else {
      return 0;
    }
    memcpy(s->last_text, text, len);
    s->last_len = len;
    s->last_addr = *out;
  }
  if (s->family == AF_INET) {
    ((struct sockaddr_in *)out)->sin_port = htons(port);
    *out_len = sizeof(struct sockaddr_in);
  } else {
    out->sin6_port = htons(port);
    *out_len = sizeof(struct sockaddr_in6);
  }
  return 1;
}

static napi_value address_string(napi_env env, const struct sockaddr_in6 *a) {
  char text[INET6_ADDRSTRLEN] = "";
  if (a->sin6_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, text, sizeof text);
  else inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
  napi_value v;
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &v);
  return v;
}

static uint16_t source_port(const struct sockaddr_in6 *a) {
  return ntohs(a->sin6_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port : a->sin6_port);
}

// How long the first datagram of the batch waited in the queue, µs; -1 without its timestamp.
static double first_wait_us(signal_socket_t *s) {
  struct msghdr *h = &s->rmsg[0].msg_hdr;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec at, now;
    memcpy(&at, CMSG_DATA(c), sizeof at);
    clock_gettime(CLOCK_REALTIME, &now);
    double us = (double)(now.tv_sec - at.tv_sec) * 1e6 + (double)(now.tv_nsec - at.tv_nsec) / 1e3;
    return us < 0 ? 0 : us;
  }
  return -1;
}

static void deliver(signal_socket_t *s, int n) {
  napi_env env = s->env;
  double waited = first_wait_us(s);
  size_t total = 0;
  for (int i = 0; i < n; i++) total += s->rmsg[i].msg_len;
  napi_value data, addresses, count, wait, fn, recv, argv[4];
  void *bytes;
  if (napi_create_buffer(env, total, &bytes, &data) != napi_ok) return;
  napi_create_array_with_length(env, (size_t)n, &addresses);
  size_t at = 0;
  napi_value previous = NULL;
  for (int i = 0; i < n; i++) {
    uint32_t len = s->rmsg[i].msg_len;
    memcpy((char *)bytes + at, s->riov[i].iov_base, len);
    s->meta[i * 3] = (uint32_t)at;
    s->meta[i * 3 + 1] = len;
    s->meta[i * 3 + 2] = source_port(&s->raddr[i]);
    // A batch mostly comes from a few peers: the previous datagram's string is reused.
    int same = i > 0 && s->rmsg[i].msg_hdr.msg_namelen == s->rmsg[i - 1].msg_hdr.msg_namelen &&
               memcmp(&s->raddr[i], &s->raddr[i - 1], s->rmsg[i].msg_hdr.msg_namelen) == 0;
    napi_value addr = same ? previous : address_string(env, &s->raddr[i]);
    napi_set_element(env, addresses, (uint32_t)i, addr);
    previous = addr;
    at += len;
  }
  napi_create_uint32(env, (uint32_t)n, &count);
  napi_get_reference_value(env, s->on_batch, &fn);
  napi_get_global(env, &recv); // napi_make_callback wants an object as `this`
  napi_create_double(env, waited, &wait);
  argv[3] = wait;
  argv[0] = data;
  argv[1] = addresses;
  argv[2] = count;
  s->in_batch = 1;
  napi_value result;
  napi_status status = napi_make_callback(env, s->async, recv, fn, 4, argv, &result);
  s->in_batch = 0;
  if (s->open) flush(s);
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  signal_socket_t *s = (signal_socket_t *)poll->data;
  if (status < 0 || !s->open) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  for (int round = 0; round < DRAIN_ROUNDS && s->open; round++) {
    for (int i = 0; i < BATCH; i++) s->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    // Only the first datagram's timestamp is read: the oldest in the queue.
    s->rmsg[0].msg_hdr.msg_control = s->rctl;
    s->rmsg[0].msg_hdr.msg_controllen = sizeof s->rctl;
    int n = recvmmsg(s->fd, s->rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // ECONNREFUSED and the like report an earlier send's ICMP error, not this socket's state.
      continue;
    }
    if (n == 0) break;
    deliver(s, n);
    if (n < BATCH) break;
  }
  napi_close_handle_scope(s->env, scope);
}

static signal_socket_t *handle_of(napi_env env, napi_value v) {
  signal_socket_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || s == NULL || !s->open) {
    napi_throw_error(env, "SY_NATIVE", "native signaling: the socket is closed");
    return NULL;
  }
  return s;
}

// The socket's memory goes when both the poll handle has closed and JavaScript has dropped the
// handle, so a closed handle used again finds `open == 0` instead of freed memory.
static void release(signal_socket_t *s) {
  if (s->poll_closed && s->handle_dropped) free(s);
}

static void on_poll_closed(uv_handle_t *h) {
  signal_socket_t *s = (signal_socket_t *)h->data;
  free(s->rbuf);
  free(s->sbuf);
  s->rbuf = s->sbuf = NULL;
  s->poll_closed = 1;
  release(s);
}

static void on_handle_dropped(napi_env env, void *data, void *hint) {
  signal_socket_t *s = (signal_socket_t *)data;
  s->handle_dropped = 1;
  release(s);
}

// open(host, port, meta: Uint32Array(3 * 64), onBatch, bufferBytes) -> handle; throws an Error
// whose code is the errno name (EADDRINUSE...) when the socket cannot be bound.
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t host_len;
  uint32_t port;
  int32_t buffer_bytes;
  if (argc < 5 || napi_get_value_string_latin1(env, argv[0], host, sizeof host, &host_len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535 ||
      napi_get_value_int32(env, argv[4], &buffer_bytes) != napi_ok) {
    napi_throw_type_error(env, "SY_NATIVE", "native signaling: open(host, port, meta, onBatch, bufferBytes)");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *meta;
  if (napi_get_typedarray_info(env, argv[2], &type, &length, &meta, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || length < 3 * BATCH) {
    napi_throw_type_error(env, "SY_NATIVE", "native signaling: meta must be a Uint32Array of 192 entries");
    return NULL;
  }
  struct sockaddr_in6 a6 = {0};
  struct sockaddr_in a4 = {0};
  int family;
  if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
    family = AF_INET;
    a4.sin_family = AF_INET;
    a4.sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
    family = AF_INET6;
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((uint16_t)port);
  } else {
    napi_throw_type_error(env, "SY_NATIVE", "native signaling: host must be an IP literal");
    return NULL;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    napi_throw_error(env, "SY_NATIVE", strerror(errno));
    return NULL;
  }
  int off = 0;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  // A deep queue rides out bursts; the kernel caps it at net.core.rmem_max / wmem_max.
  if (buffer_bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
  }
  // Receive timestamps: how long a batch waited in the queue (overload control's measure).
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  int rc = family == AF_INET ? bind(fd, (struct sockaddr *)&a4, sizeof a4) : bind(fd, (struct sockaddr *)&a6, sizeof a6);
  if (rc < 0) {
    int e = errno;
    close(fd);
    const char *name = e == EADDRINUSE ? "EADDRINUSE" : e == EACCES ? "EACCES" : e == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "SY_NATIVE";
    char text[160];
    snprintf(text, sizeof text, "bind %s %s:%u (%s)", name, host, port, strerror(e));
    napi_throw_error(env, name, text);
    return NULL;
  }
  signal_socket_t *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->rbuf = malloc((size_t)BATCH * MAX_DATAGRAM);
    s->sbuf = malloc(SEND_AREA);
  }
  if (s == NULL || s->rbuf == NULL || s->sbuf == NULL) {
    if (s != NULL) {
      free(s->rbuf);
      free(s->sbuf);
      free(s);
    }
    close(fd);
    napi_throw_error(env, "SY_NATIVE", "native signaling: out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->meta = meta;
  for (int i = 0; i < BATCH; i++) {
    s->riov[i].iov_base = s->rbuf + (size_t)i * MAX_DATAGRAM;
    s->riov[i].iov_len = MAX_DATAGRAM;
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
    s->rmsg[i].msg_hdr.msg_name = &s->raddr[i];
    s->smsg[i].msg_hdr.msg_iov = &s->siov[i];
    s->smsg[i].msg_hdr.msg_iovlen = 1;
    s->smsg[i].msg_hdr.msg_name = &s->saddr[i];
  }
  uv_loop_t *loop;
  napi_value resource, name;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_reference(env, argv[2], 1, &s->meta_ref));
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_batch));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_latin1(env, "switchyard.signaling", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, resource, name, &s->async));
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  s->open = 1;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  napi_value out;
  CHECK(napi_create_external(env, s, on_handle_dropped, NULL, &out));
  return out;
}

// send(handle, buf, port, address): queued during a batch, sent at once otherwise. Returns
// false when the address is not an IP literal this socket can reach.
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  signal_socket_t *s = handle_of(env, argv[0]);
  if (s == NULL) return NULL;
  void *data;
  size_t len;
  uint32_t port;
  char text[64];
  size_t text_len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || napi_get_value_uint32(env, argv[2], &port) != napi_ok ||
      napi_get_value_string_latin1(env, argv[3], text, sizeof text, &text_len) != napi_ok) {
    napi_throw_type_error(env, "SY_NATIVE", "native signaling: send(handle, buffer, port, address)");
    return NULL;
  }
  struct sockaddr_in6 to;
  socklen_t to_len;
  napi_value ok;
  if (port > 65535 || !parse_address(s, text, text_len, (uint16_t)port, &to, &to_len)) {
    napi_get_boolean(env, 0, &ok);
    return ok;
  }
  if (!s->in_batch || len > SEND_AREA) {
    if (s->scount > 0) flush(s); // keep the order of this socket's datagrams
    sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, to_len); // a failure loses the datagram, as UDP may
  } else {
    if (s->scount == BATCH || s->sused + len > SEND_AREA) flush(s);
    int i = s->scount++;
    memcpy(s->sbuf + s->sused, data, len);
    s->siov[i].iov_base = s->sbuf + s->sused;
    s->siov[i].iov_len = len;
    s->saddr[i] = to;
    s->smsg[i].msg_hdr.msg_namelen = to_len;
    s->sused += len;
  }
  napi_get_boolean(env, 1, &ok);
  return ok;
}

// The open socket a call's only argument names, or NULL with an exception pending.
static signal_socket_t *only_handle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, "SY_NATIVE", "native signaling: a socket handle is needed");
    return NULL;
  }
  return handle_of(env, argv[0]);
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  signal_socket_t *s = only_handle(env, info);
  if (s == NULL) return NULL;
  struct sockaddr_in6 a;
  socklen_t len = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &len);
  napi_value out;
  CHECK(napi_create_uint32(env, source_port(&a), &out));
  return out;
}

// queue(handle) -> [bytes queued, receive buffer bytes, datagrams dropped] (SO_MEMINFO): how full
// the socket's receive queue is, for overload control, in one system call.
static napi_value js_queue(napi_env env, napi_callback_info info) {
  signal_socket_t *s = only_handle(env, info);
  if (s == NULL) return NULL;
  uint32_t mem[SK_MEMINFO_VARS] = {0};
  socklen_t len = sizeof mem;
  if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0) {
    napi_throw_error(env, "SY_NATIVE", strerror(errno));
    return NULL;
  }
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 3, &out));
  const uint32_t fields[3] = {mem[SK_MEMINFO_RMEM_ALLOC], mem[SK_MEMINFO_RCVBUF], mem[SK_MEMINFO_DROPS]};
  for (uint32_t i = 0; i < 3; i++) {
    CHECK(napi_create_uint32(env, fields[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  signal_socket_t *s = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL || !s->open) return NULL;
  if (s->scount > 0) flush(s);
  s->open = 0;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_delete_reference(env, s->on_batch);
  napi_delete_reference(env, s->meta_ref);
  napi_async_destroy(env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"port", NULL, js_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"queue", NULL, js_queue, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(switchyard_signal, init)
