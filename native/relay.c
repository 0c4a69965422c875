// The media relay's native data plane: UDP sessions forwarded by worker threads (epoll,
// recvmmsg/sendmmsg), controlled from JavaScript. A session is either
//   - one shared port with two parties (the plain protocol's), with the rules of
//     modules/media-relay/relay/media-session.ts:
//       - a datagram from a party's current address goes, unchanged, to the other party;
//       - a party that has not sent yet latches to a new source from its expected IP, unless the
//         other party could latch to it too (ambiguous): then, like any other source, it is a
//         stranger, dropped and counted;
//   - or two linked ports, one leg per party (SIP's), with the rules of
//     modules/media-relay/relay/leg-session.ts: a leg's party is whoever sends to its port. Its
//     first datagram latches the leg (in strict mode only from the party's SDP IP or signaling
//     IP); after that only that source is the party, anything else a stranger. A datagram from
//     the party goes, unchanged, to the other leg's party, sent from the other leg's port.
// The tests run both engines against the same rules.
//
// Sessions live in a table indexed by port. A slot is allocated on first use and never freed
// before the engine is, so a worker never touches freed memory; each slot has a mutex (taken
// by its worker around one drain, by JavaScript around a change) and a generation number that
// tells a stale readiness event of a closed socket from one of its successor.
//
// A closed session's socket stays bound as its port's spare (up to a quarter of the process's
// descriptor limit): the port's next session takes it after discarding what it queued, instead
// of paying socket(), bind(), epoll_ctl() and close() per port and call. Meanwhile its worker
// discards whatever arrives, so an ended session's port forwards nothing, as a closed one.
//
// Threads: JavaScript calls in on the event-loop thread that created the engine (an engine
// cannot move to another thread); each worker forwards its own sockets. What both touch is
// either under the slot's lock or atomic; each field says which, and why that order suffices.
// Every allocation is made on the event-loop thread, so a failed one is an error JavaScript
// sees: a worker never allocates.
#define _GNU_SOURCE
#define SY_ADDON "native relay"
#include "common.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Not a power of two, so the batch's buffers do not all map to the same cache sets.
#define BUF_STRIDE (MAX_DATAGRAM + 192)
#define MAX_EVENTS 256
#define PORTS 65536
#define WAKE_TAG UINT64_MAX // the epoll tag of a worker's wake-up eventfd

typedef struct {
  // Both under the slot's lock: an address and its port change together (setParty, latching)
  // and a reader (the worker's sender check, stats) must never see half of a change.
  struct sockaddr_in6 expected; // sin6_family == 0: not known
  struct sockaddr_in6 current;  // where its media goes; its source once it has sent
  struct sockaddr_in6 signal;   // a leg's party: its signaling IP, which strict mode lets latch
  int has_sent;                 // under the slot's lock
  // Written only under the slot's lock (by the worker, and reset by open); read by relayed()
  // without it. Relaxed: a reader wants a recent count, ordered with nothing else, and with a
  // single writer at a time a load and a store suffice (no locked read-modify-write).
  _Atomic uint64_t packets, bytes;
} party_t;

typedef struct {
  pthread_mutex_t lock;
  // Under the lock: open and close change them while the slot's worker may be draining it.
  int fd;       // -1 when closed
  int spare;    // a closed session's socket kept bound for the port's next session; -1: none
  int family;   // of the socket (or the spare): AF_INET6 (dual-stack or v6) or AF_INET
  struct in6_addr host; // the address it is bound to (IPv4 mapped)
  uint32_t gen; // tags this socket's epoll events: an event of a closed socket is ignored
  int worker;
  // A leg of a two-port session: the other leg's port (-1: a shared port, both parties here),
  // and whether only the party's SDP or signaling IP may latch. Both legs belong to one worker,
  // which drains a leg holding its lock and then its peer's: JavaScript never holds two locks,
  // and no other worker drains either leg, so the order cannot deadlock.
  int peer;
  int strict;
  party_t p[2]; // a leg's party is p[0]
  _Atomic uint64_t strangers, send_errors; // as the parties' counters
} slot_t;

typedef struct {
  struct mmsghdr rm[BATCH], sm[BATCH];
  struct iovec riov[BATCH], siov[BATCH];
  struct sockaddr_in6 src[BATCH];
  struct sockaddr_in dst4[BATCH];
  uint8_t *buf;
} batch_t;

// What one worker did, for the operator (threadCounters). Written by that worker only, once per
// wake-up from its tally of the wake-up's drains, never per datagram; read on the event-loop
// thread. Relaxed, as the parties' counters. An allocation of its own, padded past a cache
// line, so that two workers never write the same line.
typedef struct {
  _Atomic uint64_t wakeups;    // epoll_wait returns with readiness events
  _Atomic uint64_t received;   // datagrams read
  _Atomic uint64_t bytes;      // bytes read
  _Atomic uint64_t sent;       // datagrams the kernel took to send
  _Atomic uint64_t full_reads; // recvmmsg calls that filled the batch: the worker is behind
  // Datagrams dropped on a port whose session had ended (its spare socket), by the worker and by
  // the event-loop thread when the port's next session takes the socket: two writers, so added.
  _Atomic uint64_t no_session;
  uint8_t pad[128 - 6 * sizeof(uint64_t)];
} worker_counters_t;

// A worker's counts over one wake-up, on its stack.
typedef struct {
  uint64_t received, bytes, sent, full_reads;
} tally_t;

struct engine;

// Set up by the event-loop thread before the thread starts (pthread_create orders them), then
// read-only until pthread_join, but `ports` (event-loop thread only) and the counters.
typedef struct {
  struct engine *eng;
  int ep;         // -1 until created
  int wake;       // -1 until created
  batch_t *batch; // the worker's receive and send buffers
  worker_counters_t *counters;
  int ports;      // sockets this worker drains now; event-loop thread only
  pthread_t th;
  int started;
} worker_t;

typedef struct engine {
  // Written by the event-loop thread only (a slot is published once, never replaced before the
  // engine is freed); read by workers. Release/acquire: a worker that finds a slot sees it
  // initialised (its mutex above all).
  _Atomic(slot_t *) slots[PORTS];
  worker_t *workers;
  int n_workers;
  int next_worker; // event-loop thread only
  int spares, max_spares; // event-loop thread only
  int rcvbuf;      // read-only after creation
  // Set once by engine_stop, which then wakes every worker through its eventfd; each worker
  // checks it after each epoll_wait. Release/acquire (free: one check per wake-up).
  atomic_bool stop;
  int destroyed; // event-loop thread only
} engine_t;

// --- addresses ---------------------------------------------------------------------------

// Every address is kept as a sockaddr_in6 (IPv4 as ::ffff:a.b.c.d); an AF_INET socket's
// addresses are converted at the system-call boundary.
static void to_mapped(struct sockaddr_in6 *out, const struct sockaddr_in *in) {
  sy_map_v4(out, &in->sin_addr, in->sin_port);
}

static int same_ip(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
  return memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

static int same_endpoint(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
  return a->sin6_port == b->sin6_port && same_ip(a, b);
}

// --- counters ----------------------------------------------------------------------------

// Adds to a counter its slot's lock guards against other writers (see party_t).
static inline void count(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t counted(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

// --- the forwarding loop -----------------------------------------------------------------

static party_t *sender_of(slot_t *s, const struct sockaddr_in6 *from) {
  party_t *a = &s->p[0], *b = &s->p[1];
  if (a->current.sin6_family && same_endpoint(from, &a->current)) return a;
  if (b->current.sin6_family && same_endpoint(from, &b->current)) return b;
  int a_may = !a->has_sent && a->expected.sin6_family && same_ip(from, &a->expected);
  int b_may = !b->has_sent && b->expected.sin6_family && same_ip(from, &b->expected);
  if (a_may == b_may) return NULL;
  party_t *p = a_may ? a : b;
  p->current = *from;
  return p;
}

// Whether a leg's party is this source, latching it when the leg has not latched yet.
static int leg_accepts(slot_t *s, party_t *p, const struct sockaddr_in6 *from) {
  if (p->has_sent) return same_endpoint(from, &p->current);
  if (s->strict && !(p->expected.sin6_family && same_ip(from, &p->expected)) && !(p->signal.sin6_family && same_ip(from, &p->signal))) return 0;
  p->current = *from;
  p->has_sent = 1;
  return 1;
}

// Points send entry `ns` at `to` in the form a socket of `family` takes.
static void address_send(batch_t *bt, int ns, int family, struct sockaddr_in6 *to) {
  if (family == AF_INET) {
    struct sockaddr_in *d = &bt->dst4[ns];
    d->sin_family = AF_INET;
    d->sin_port = to->sin6_port;
    memcpy(&d->sin_addr, &to->sin6_addr.s6_addr[12], 4);
    bt->sm[ns].msg_hdr.msg_name = d;
    bt->sm[ns].msg_hdr.msg_namelen = sizeof *d;
  } else {
    bt->sm[ns].msg_hdr.msg_name = to;
    bt->sm[ns].msg_hdr.msg_namelen = sizeof *to;
  }
}

// Sends the batch's first `ns` entries on `fd`; a datagram the kernel refuses is counted and
// skipped. Returns how many the kernel took.
static int send_batch(int fd, batch_t *bt, int ns, slot_t *counted_in) {
  int off = 0, taken = 0;
  while (off < ns) {
    int sent = sendmmsg(fd, bt->sm + off, ns - off, MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      count(&counted_in->send_errors, 1); // this datagram is lost (full queue, unreachable): go on with the rest
      off++;
      continue;
    }
    off += sent;
    taken += sent;
  }
  return taken;
}

// A leg's drain: called with the leg's lock held; takes its peer's for the sends.
static void drain_leg(engine_t *eng, slot_t *s, batch_t *bt, tally_t *tally) {
  slot_t *t = atomic_load_explicit(&eng->slots[s->peer], memory_order_acquire);
  if (t == NULL) return; // cannot happen: a leg is linked to an opened port
  pthread_mutex_lock(&t->lock);
  party_t *p = &s->p[0], *to = &t->p[0];
  int can_send = t->fd >= 0 && to->current.sin6_family && to->current.sin6_port != 0;
  for (int round = 0; round < DRAIN_ROUNDS; round++) {
    for (int i = 0; i < BATCH; i++) bt->rm[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    int r = recvmmsg(s->fd, bt->rm, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) break;
    tally->received += (uint64_t)r;
    tally->full_reads += r == BATCH;
    int ns = 0;
    for (int i = 0; i < r; i++) {
      struct sockaddr_in6 from;
      tally->bytes += bt->rm[i].msg_len;
      if (s->family == AF_INET) to_mapped(&from, (const struct sockaddr_in *)&bt->src[i]);
      else from = bt->src[i];
      if (!leg_accepts(s, p, &from)) {
        count(&s->strangers, 1);
        continue;
      }
      count(&p->packets, 1);
      count(&p->bytes, bt->rm[i].msg_len);
      if (!can_send) {
        count(&s->send_errors, 1);
        continue;
      }
      bt->siov[ns].iov_base = bt->riov[i].iov_base;
      bt->siov[ns].iov_len = bt->rm[i].msg_len;
      address_send(bt, ns, t->family, &to->current);
      ns++;
    }
    tally->sent += (uint64_t)send_batch(t->fd, bt, ns, s);
    if (r < BATCH) break;
  }
  pthread_mutex_unlock(&t->lock);
}

// Called with the slot's lock held.
static void drain(engine_t *eng, slot_t *s, batch_t *bt, tally_t *tally) {
  if (s->peer >= 0) {
    drain_leg(eng, s, bt, tally);
    return;
  }
  for (int round = 0; round < DRAIN_ROUNDS; round++) {
    for (int i = 0; i < BATCH; i++) bt->rm[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    int r = recvmmsg(s->fd, bt->rm, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) return;
    tally->received += (uint64_t)r;
    tally->full_reads += r == BATCH;
    int ns = 0;
    for (int i = 0; i < r; i++) {
      struct sockaddr_in6 from;
      tally->bytes += bt->rm[i].msg_len;
      if (s->family == AF_INET) to_mapped(&from, (const struct sockaddr_in *)&bt->src[i]);
      else from = bt->src[i];
      party_t *p = sender_of(s, &from);
      if (p == NULL) {
        count(&s->strangers, 1);
        continue;
      }
      p->has_sent = 1;
      count(&p->packets, 1);
      count(&p->bytes, bt->rm[i].msg_len);
      party_t *to = p == &s->p[0] ? &s->p[1] : &s->p[0];
      if (!to->current.sin6_family || to->current.sin6_port == 0) {
        count(&s->send_errors, 1);
        continue;
      }
      bt->siov[ns].iov_base = bt->riov[i].iov_base;
      bt->siov[ns].iov_len = bt->rm[i].msg_len;
      address_send(bt, ns, s->family, &to->current);
      ns++;
    }
    tally->sent += (uint64_t)send_batch(s->fd, bt, ns, s);
    if (r < BATCH) return;
  }
}

// Reads and drops what a spare socket queued (its level-triggered readiness fires again for more).
static void discard(int fd, batch_t *bt, worker_counters_t *c) {
  for (int i = 0; i < BATCH; i++) bt->rm[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
  int r = recvmmsg(fd, bt->rm, BATCH, MSG_DONTWAIT, NULL);
  if (r > 0) atomic_fetch_add_explicit(&c->no_session, (uint64_t)r, memory_order_relaxed);
}

static void *run_worker(void *arg) {
  worker_t *w = arg;
  engine_t *eng = w->eng;
  struct epoll_event evs[MAX_EVENTS];
  while (!atomic_load_explicit(&eng->stop, memory_order_acquire)) {
    int n = epoll_wait(w->ep, evs, MAX_EVENTS, 1000);
    if (n <= 0) continue;
    tally_t tally = {0};
    for (int e = 0; e < n; e++) {
      uint64_t tag = evs[e].data.u64;
      if (tag == WAKE_TAG) continue; // look at `stop`
      slot_t *s = atomic_load_explicit(&eng->slots[tag & 0xffff], memory_order_acquire);
      if (s == NULL) continue; // cannot happen: a socket is registered after its slot is published
      pthread_mutex_lock(&s->lock);
      if (s->gen == (uint32_t)(tag >> 16)) {
        if (s->fd >= 0) drain(eng, s, w->batch, &tally);
        else if (s->spare >= 0) discard(s->spare, w->batch, w->counters);
      }
      pthread_mutex_unlock(&s->lock);
    }
    worker_counters_t *c = w->counters;
    count(&c->wakeups, 1);
    count(&c->received, tally.received);
    count(&c->bytes, tally.bytes);
    count(&c->sent, tally.sent);
    count(&c->full_reads, tally.full_reads);
  }
  return NULL;
}

// --- engine life -------------------------------------------------------------------------

static batch_t *batch_new(void) {
  batch_t *bt = sy_calloc(1, sizeof *bt);
  if (bt == NULL) return NULL;
  bt->buf = sy_malloc((size_t)BATCH * BUF_STRIDE);
  if (bt->buf == NULL) {
    free(bt);
    return NULL;
  }
  for (int i = 0; i < BATCH; i++) {
    bt->riov[i].iov_base = bt->buf + (size_t)i * BUF_STRIDE;
    bt->riov[i].iov_len = MAX_DATAGRAM;
    bt->rm[i].msg_hdr.msg_iov = &bt->riov[i];
    bt->rm[i].msg_hdr.msg_iovlen = 1;
    bt->rm[i].msg_hdr.msg_name = &bt->src[i];
    bt->sm[i].msg_hdr.msg_iov = &bt->siov[i];
    bt->sm[i].msg_hdr.msg_iovlen = 1;
  }
  return bt;
}

static void batch_free(batch_t *bt) {
  if (bt == NULL) return;
  free(bt->buf);
  free(bt);
}

// Stops the workers and closes every socket; the memory stays until engine_free. Idempotent.
static void engine_stop(engine_t *eng) {
  if (eng->destroyed) return;
  eng->destroyed = 1;
  atomic_store_explicit(&eng->stop, true, memory_order_release);
  for (int i = 0; i < eng->n_workers; i++) {
    uint64_t one = 1;
    if (eng->workers[i].wake >= 0 && write(eng->workers[i].wake, &one, sizeof one) < 0) {
      // the worker wakes within its epoll timeout anyway
    }
  }
  for (int i = 0; i < eng->n_workers; i++)
    if (eng->workers[i].started) pthread_join(eng->workers[i].th, NULL);
  // No worker runs any more: the slots are the event-loop thread's alone.
  for (int port = 0; port < PORTS; port++) {
    slot_t *s = atomic_load_explicit(&eng->slots[port], memory_order_relaxed);
    if (s == NULL) continue;
    if (s->fd >= 0) close(s->fd);
    if (s->spare >= 0) close(s->spare);
    s->fd = s->spare = -1;
  }
  for (int i = 0; i < eng->n_workers; i++) {
    if (eng->workers[i].ep >= 0) close(eng->workers[i].ep);
    if (eng->workers[i].wake >= 0) close(eng->workers[i].wake);
  }
}

static void engine_free(engine_t *eng) {
  engine_stop(eng);
  for (int port = 0; port < PORTS; port++) {
    slot_t *s = atomic_load_explicit(&eng->slots[port], memory_order_relaxed);
    if (s == NULL) continue;
    pthread_mutex_destroy(&s->lock);
    free(s);
  }
  for (int i = 0; i < eng->n_workers; i++) {
    batch_free(eng->workers[i].batch);
    free(eng->workers[i].counters);
  }
  free(eng->workers);
  free(eng);
}

// Starts an engine with `n_workers` threads: 0 and *out, or -errno with *failed naming the step.
static int engine_new(int n_workers, int rcvbuf, engine_t **out, const char **failed) {
  engine_t *eng = sy_calloc(1, sizeof *eng);
  if (eng == NULL) {
    *failed = "the engine";
    return -ENOMEM;
  }
  for (int port = 0; port < PORTS; port++) atomic_init(&eng->slots[port], NULL);
  atomic_init(&eng->stop, false);
  eng->rcvbuf = rcvbuf;
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) eng->max_spares = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > 4 * PORTS ? PORTS : (int)(files.rlim_cur / 4);
  eng->workers = sy_calloc((size_t)n_workers, sizeof(worker_t));
  if (eng->workers == NULL) {
    free(eng);
    *failed = "the worker table";
    return -ENOMEM;
  }
  eng->n_workers = n_workers;
  for (int i = 0; i < n_workers; i++) {
    eng->workers[i].eng = eng;
    eng->workers[i].ep = eng->workers[i].wake = -1;
  }
  int rc = 0;
  for (int i = 0; i < n_workers && rc == 0; i++) {
    worker_t *w = &eng->workers[i];
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if ((w->batch = batch_new()) == NULL) {
      rc = -ENOMEM;
      *failed = "a worker's batch buffers";
    } else if ((w->counters = sy_calloc(1, sizeof *w->counters)) == NULL) {
      rc = -ENOMEM;
      *failed = "a worker's counters";
    } else if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
      rc = -errno;
      *failed = "epoll_create1";
    } else if ((w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
      rc = -errno;
      *failed = "eventfd";
    } else if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake, &ev) < 0) {
      rc = -errno;
      *failed = "epoll_ctl";
    } else if ((rc = -pthread_create(&w->th, NULL, run_worker, w)) != 0) {
      *failed = "pthread_create";
    } else {
      w->started = 1;
      char name[24]; // the kernel keeps the first 15 bytes
      snprintf(name, sizeof name, "sy-media-%u", (unsigned)i % 100u); // shown by top -H, ps -L
      pthread_setname_np(w->th, name);
    }
  }
  if (rc != 0) {
    engine_free(eng); // joins the workers that started, frees and closes what was made
    return rc;
  }
  *out = eng;
  return 0;
}

// --- sessions ----------------------------------------------------------------------------

static slot_t *slot_of(engine_t *eng, int port) {
  return atomic_load_explicit(&eng->slots[port], memory_order_relaxed); // the writer's own thread
}

static slot_t *slot_for(engine_t *eng, int port) {
  slot_t *s = slot_of(eng, port);
  if (s != NULL) return s;
  s = sy_calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  if (pthread_mutex_init(&s->lock, NULL) != 0) {
    free(s);
    return NULL;
  }
  s->fd = s->spare = -1;
  atomic_store_explicit(&eng->slots[port], s, memory_order_release);
  return s;
}

// A fresh session's state, under the slot's lock.
static void slot_reset(slot_t *s) {
  s->peer = -1;
  s->strict = 0;
  for (int i = 0; i < 2; i++) {
    party_t *p = &s->p[i];
    memset(&p->expected, 0, sizeof p->expected);
    memset(&p->current, 0, sizeof p->current);
    memset(&p->signal, 0, sizeof p->signal);
    p->has_sent = 0;
    atomic_store_explicit(&p->packets, 0, memory_order_relaxed);
    atomic_store_explicit(&p->bytes, 0, memory_order_relaxed);
  }
  atomic_store_explicit(&s->strangers, 0, memory_order_relaxed);
  atomic_store_explicit(&s->send_errors, 0, memory_order_relaxed);
}

// Closes a socket its worker polls; the event-loop thread, under the slot's lock.
static void unpoll_close(engine_t *eng, slot_t *s, int fd) {
  epoll_ctl(eng->workers[s->worker].ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

// Takes the port's spare for a new session when it is bound to `host` in `family`: 1 if taken, else 0 (a
// spare bound elsewhere is closed). What it queued belongs to an ended session and is dropped.
static int take_spare(engine_t *eng, slot_t *s, int family, const struct in6_addr *host) {
  if (s->spare < 0) return 0;
  int fd = s->spare;
  s->spare = -1;
  eng->spares--;
  if (s->family != family || memcmp(&s->host, host, sizeof *host) != 0) {
    unpoll_close(eng, s, fd);
    return 0;
  }
  // A zero-length read of a UDP socket dequeues one datagram; bounded by what 1 MiB can queue.
  int dropped = 0;
  while (dropped < 65536 && recv(fd, NULL, 0, MSG_DONTWAIT | MSG_TRUNC) >= 0) dropped++;
  if (dropped > 0) atomic_fetch_add_explicit(&eng->workers[s->worker].counters->no_session, (uint64_t)dropped, memory_order_relaxed);
  s->fd = fd;
  eng->workers[s->worker].ports++;
  slot_reset(s);
  return 1;
}

// Binds `port` on `host` (`::` dual-stack, or a literal) and hands it to a worker; 0 or -errno.
static int session_open(engine_t *eng, int port, const char *host) {
  struct in6_addr a6;
  struct in_addr a4;
  int v4 = inet_pton(AF_INET, host, &a4) == 1;
  if (!v4 && inet_pton(AF_INET6, host, &a6) != 1) return -EINVAL;
  if (v4) {
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr = a4};
    struct sockaddr_in6 mapped;
    to_mapped(&mapped, &in);
    a6 = mapped.sin6_addr;
  }
  slot_t *s = slot_for(eng, port);
  if (s == NULL) return -ENOMEM;
  pthread_mutex_lock(&s->lock);
  if (s->fd >= 0) { // still open: the caller's bookkeeping is wrong
    pthread_mutex_unlock(&s->lock);
    return -EBUSY;
  }
  int reused = take_spare(eng, s, v4 ? AF_INET : AF_INET6, &a6);
  pthread_mutex_unlock(&s->lock);
  if (reused) return 0;
  int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int off = 0;
  if (!v4) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  if (eng->rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eng->rcvbuf, sizeof eng->rcvbuf);
  int rc;
  if (v4) {
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = a4};
    rc = bind(fd, (struct sockaddr *)&la, sizeof la);
  } else {
    struct sockaddr_in6 la = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = a6};
    rc = bind(fd, (struct sockaddr *)&la, sizeof la);
  }
  if (rc < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  pthread_mutex_lock(&s->lock);
  if (s->fd >= 0) { // opened meanwhile: cannot happen (one thread opens), and the bind above could not have succeeded
    pthread_mutex_unlock(&s->lock);
    close(fd);
    return -EBUSY;
  }
  s->fd = fd;
  s->family = v4 ? AF_INET : AF_INET6;
  s->host = a6;
  s->gen++;
  slot_reset(s);
  s->worker = eng->next_worker;
  eng->next_worker = (eng->next_worker + 1) % eng->n_workers;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)s->gen << 16) | (uint64_t)port};
  rc = epoll_ctl(eng->workers[s->worker].ep, EPOLL_CTL_ADD, fd, &ev);
  if (rc < 0) {
    int err = errno;
    s->fd = -1;
    pthread_mutex_unlock(&s->lock);
    close(fd);
    return -err;
  }
  eng->workers[s->worker].ports++;
  pthread_mutex_unlock(&s->lock);
  return 0;
}

// Ends the port's session: its socket becomes the port's spare, or is closed when there are enough.
static void session_close(engine_t *eng, int port) {
  slot_t *s = slot_of(eng, port);
  if (s == NULL) return;
  pthread_mutex_lock(&s->lock);
  if (s->fd >= 0) {
    if (eng->spares < eng->max_spares) {
      s->spare = s->fd;
      eng->spares++;
    } else {
      unpoll_close(eng, s, s->fd);
    }
    s->fd = -1;
    eng->workers[s->worker].ports--;
  }
  s->peer = -1;
  pthread_mutex_unlock(&s->lock);
}

// Makes two open ports the legs of one session: `b` moves to `a`'s worker (see slot_t.peer),
// then each names the other. 0, or -EBADF when either port is not open.
static int session_link(engine_t *eng, int a_port, int b_port, int strict) {
  slot_t *a = slot_of(eng, a_port), *b = slot_of(eng, b_port);
  if (a == NULL || b == NULL || a == b) return -EBADF;
  pthread_mutex_lock(&a->lock);
  int a_open = a->fd >= 0, worker = a->worker;
  pthread_mutex_unlock(&a->lock);
  if (!a_open) return -EBADF;
  pthread_mutex_lock(&b->lock);
  if (b->fd < 0) {
    pthread_mutex_unlock(&b->lock);
    return -EBADF;
  }
  if (b->worker != worker) {
    epoll_ctl(eng->workers[b->worker].ep, EPOLL_CTL_DEL, b->fd, NULL);
    b->gen++; // an event the old worker already took is now stale
    eng->workers[b->worker].ports--;
    b->worker = worker;
    eng->workers[worker].ports++; // its socket until closed, even when the registration below fails
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)b->gen << 16) | (uint64_t)b_port};
    if (epoll_ctl(eng->workers[worker].ep, EPOLL_CTL_ADD, b->fd, &ev) < 0) {
      int err = errno;
      pthread_mutex_unlock(&b->lock);
      return -err;
    }
  }
  b->peer = a_port;
  b->strict = strict;
  pthread_mutex_unlock(&b->lock);
  pthread_mutex_lock(&a->lock);
  a->peer = b_port;
  a->strict = strict;
  pthread_mutex_unlock(&a->lock);
  return 0;
}

// --- JavaScript bindings -----------------------------------------------------------------

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_free(data);
}

static engine_t *engine_arg(napi_env env, napi_value v) {
  engine_t *eng = NULL;
  if (napi_get_value_external(env, v, (void **)&eng) != napi_ok || eng == NULL) {
    sy_throw_type(env, "not an engine");
    return NULL;
  }
  if (eng->destroyed) {
    napi_throw_error(env, "SY_NATIVE", "native relay: engine destroyed");
    return NULL;
  }
  return eng;
}

static int port_arg(napi_env env, napi_value v, int *port) {
  int32_t p;
  if (napi_get_value_int32(env, v, &p) != napi_ok || p < 1 || p >= PORTS) {
    napi_throw_range_error(env, "SY_NATIVE", "native relay: port must be 1-65535");
    return 0;
  }
  *port = p;
  return 1;
}

// The arguments every session call starts with, (engine, port, ...); false with a JS error pending.
static int session_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv, engine_t **eng, int *port) {
  if (!sy_args(env, info, want, argv, "missing arguments")) return 0;
  *eng = engine_arg(env, argv[0]);
  return *eng != NULL && port_arg(env, argv[1], port);
}

// create(workers, rcvbufBytes) -> engine; throws an Error whose code is the errno's name
// (ENOMEM, EMFILE, EAGAIN...) when the engine cannot be had.
static napi_value js_create(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!sy_args(env, info, 2, argv, "create(workers, rcvbufBytes)")) return NULL;
  int32_t workers, rcvbuf;
  CHECK(napi_get_value_int32(env, argv[0], &workers));
  CHECK(napi_get_value_int32(env, argv[1], &rcvbuf));
  if (workers < 1 || workers > 64) {
    napi_throw_range_error(env, "SY_NATIVE", "native relay: workers must be 1-64");
    return NULL;
  }
  engine_t *eng = NULL;
  const char *failed = "";
  int rc = engine_new(workers, rcvbuf, &eng, &failed);
  if (rc == -ENOMEM) {
    sy_throw_no_memory(env, failed);
    return NULL;
  }
  if (rc < 0) {
    char what[96];
    snprintf(what, sizeof what, "cannot start the worker threads: %s failed", failed);
    sy_throw_errno(env, -rc, what);
    return NULL;
  }
  napi_value out;
  if (napi_create_external(env, eng, finalize_engine, NULL, &out) != napi_ok) {
    engine_free(eng);
    sy_throw_failed(env, "napi_create_external");
    return NULL;
  }
  return out;
}

// destroy(engine): stops the workers and closes every socket (the memory goes with the engine object).
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!sy_args(env, info, 1, argv, "destroy(engine)")) return NULL;
  engine_t *eng = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&eng));
  if (eng != NULL) engine_stop(eng);
  return NULL;
}

// open(engine, port, host) -> 0 | -errno (-ENOMEM when the port's slot cannot be allocated)
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 3, argv, &eng, &port)) return NULL;
  char host[IP_TEXT];
  int text = sy_ip_text(env, argv[2], host, "host must be a string");
  if (text < 0) return NULL;
  napi_value out;
  CHECK(napi_create_int32(env, text > 0 ? session_open(eng, port, host) : -EINVAL, &out));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  session_close(eng, port);
  return NULL;
}

// An IP literal and a port as a sockaddr_in6 (IPv4 mapped); sin6_family 0 when the text is no
// IP literal. False with a JS error pending when the argument is no string.
static int endpoint_arg(napi_env env, napi_value v, int32_t port, struct sockaddr_in6 *e) {
  char text[IP_TEXT];
  if (sy_ip_text(env, v, text, "address must be a string") < 0) return 0;
  memset(e, 0, sizeof *e);
  struct in_addr a4;
  if (inet_pton(AF_INET, text, &a4) == 1) {
    sy_map_v4(e, &a4, htons((uint16_t)port));
  } else if (inet_pton(AF_INET6, text, &e->sin6_addr) == 1) {
    e->sin6_family = AF_INET6;
    e->sin6_port = htons((uint16_t)port);
  }
  return 1;
}

// link(engine, portA, portB, strict) -> 0 | -errno: the two open ports become the legs of one
// session (see session_link); each leg's party is then set on its own port as party 0.
static napi_value js_link(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  engine_t *eng;
  int port, other;
  if (!session_call(env, info, 4, argv, &eng, &port)) return NULL;
  if (!port_arg(env, argv[2], &other)) return NULL;
  bool strict;
  CHECK(napi_get_value_bool(env, argv[3], &strict));
  napi_value out;
  CHECK(napi_create_int32(env, session_link(eng, port, other, strict ? 1 : 0), &out));
  return out;
}

// setSignal(engine, port, address): a leg's party signals from this IP, which strict mode lets
// latch; '' (or anything else that is no IP literal) forgets it.
static napi_value js_set_signal(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 3, argv, &eng, &port)) return NULL;
  struct sockaddr_in6 e;
  if (!endpoint_arg(env, argv[2], 0, &e)) return NULL;
  slot_t *s = slot_of(eng, port);
  if (s == NULL) return NULL;
  pthread_mutex_lock(&s->lock);
  s->p[0].signal = e;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

// unlatch(engine, port): a leg's party latches anew at its next datagram; until then its media
// still goes where it last came from.
static napi_value js_unlatch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  slot_t *s = slot_of(eng, port);
  if (s == NULL) return NULL;
  pthread_mutex_lock(&s->lock);
  s->p[0].has_sent = 0;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

// setParty(engine, port, which 0|1, address, port): where the party's media is expected from;
// it latches anew, unless it latched while nothing was expected of it. An address the socket's family cannot reach (or '') leaves it unknown.
static napi_value js_set_party(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 5, argv, &eng, &port)) return NULL;
  int32_t which, pport;
  CHECK(napi_get_value_int32(env, argv[2], &which));
  CHECK(napi_get_value_int32(env, argv[4], &pport));
  struct sockaddr_in6 e;
  if (!endpoint_arg(env, argv[3], pport, &e)) return NULL;
  slot_t *s = slot_of(eng, port);
  if (s == NULL || which < 0 || which > 1) return NULL;
  pthread_mutex_lock(&s->lock);
  if (s->family == AF_INET && e.sin6_family && !IN6_IS_ADDR_V4MAPPED(&e.sin6_addr)) e.sin6_family = 0;
  party_t *p = &s->p[which];
  // A party that latched before its description was known (media before the answer) stays latched.
  int first = !p->expected.sin6_family;
  p->expected = e;
  if (!(first && p->has_sent)) {
    p->current = e;
    p->has_sent = 0;
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

// A value for a property descriptor list: the property `name` with `value`.
static napi_property_descriptor field(const char *name, napi_value value) {
  napi_property_descriptor d = {name, NULL, NULL, NULL, NULL, value, napi_enumerable, NULL};
  return d;
}

// A party as stats() read it under the slot's lock.
typedef struct {
  struct sockaddr_in6 current;
  int has_sent;
  uint64_t packets, bytes;
} party_view_t;

static party_view_t party_view(party_t *p) {
  party_view_t v = {.current = p->current, .has_sent = p->has_sent, .packets = counted(&p->packets), .bytes = counted(&p->bytes)};
  return v;
}

// { packets, bytes, latched, address, port }
static napi_status party_value(napi_env env, const party_view_t *copy, napi_value *out) {
  char text[INET6_ADDRSTRLEN] = "";
  if (copy->current.sin6_family) inet_ntop(AF_INET6, &copy->current.sin6_addr, text, sizeof text);
  napi_value v[5];
  napi_status st;
  if ((st = napi_create_double(env, (double)copy->packets, &v[0])) != napi_ok) return st;
  if ((st = napi_create_double(env, (double)copy->bytes, &v[1])) != napi_ok) return st;
  if ((st = napi_get_boolean(env, copy->has_sent, &v[2])) != napi_ok) return st;
  if ((st = napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &v[3])) != napi_ok) return st;
  if ((st = napi_create_int32(env, ntohs(copy->current.sin6_port), &v[4])) != napi_ok) return st;
  napi_property_descriptor fields[] = {field("packets", v[0]), field("bytes", v[1]), field("latched", v[2]), field("address", v[3]), field("port", v[4])};
  if ((st = napi_create_object(env, out)) != napi_ok) return st;
  return napi_define_properties(env, *out, sizeof fields / sizeof fields[0], fields);
}

// stats(engine, port) -> { parties: [a, b], strangers, sendErrors } with each party
// { packets, bytes, latched, address, port }; null for a port never opened.
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  napi_value out;
  slot_t *s = slot_of(eng, port);
  if (s == NULL) {
    CHECK(napi_get_null(env, &out));
    return out;
  }
  // One consistent picture: addresses whole, counters of the same drains.
  pthread_mutex_lock(&s->lock);
  party_view_t a = party_view(&s->p[0]), b = party_view(&s->p[1]);
  uint64_t stranger_count = counted(&s->strangers), send_error_count = counted(&s->send_errors);
  pthread_mutex_unlock(&s->lock);
  napi_value pa, pb, parties, strangers, send_errors;
  CHECK(party_value(env, &a, &pa));
  CHECK(party_value(env, &b, &pb));
  CHECK(napi_create_array_with_length(env, 2, &parties));
  CHECK(napi_set_element(env, parties, 0, pa));
  CHECK(napi_set_element(env, parties, 1, pb));
  CHECK(napi_create_double(env, (double)stranger_count, &strangers));
  CHECK(napi_create_double(env, (double)send_error_count, &send_errors));
  napi_property_descriptor fields[] = {field("parties", parties), field("strangers", strangers), field("sendErrors", send_errors)};
  CHECK(napi_create_object(env, &out));
  CHECK(napi_define_properties(env, out, sizeof fields / sizeof fields[0], fields));
  return out;
}

// counters(engine, port, out Float64Array(10)) -> "<address of party 0> <address of party 1>"
// ('' for one not known), with out = [packets, bytes, latched, port] of party 0, the same of
// party 1, strangers, sendErrors: what stats() gives, read under the slot's lock, without
// building objects (the relay reads every session's counters when it ends). Null for a port
// never opened.
static napi_value js_counters(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 3, argv, &eng, &port)) return NULL;
  napi_typedarray_type type;
  size_t len, offset;
  void *data;
  napi_value buffer;
  bool is_typed;
  CHECK(napi_is_typedarray(env, argv[2], &is_typed));
  if (!is_typed) {
    sy_throw_type(env, "native relay: counters needs a Float64Array(10)");
    return NULL;
  }
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &len, &data, &buffer, &offset));
  if (type != napi_float64_array || len < 10) {
    sy_throw_type(env, "native relay: counters needs a Float64Array(10)");
    return NULL;
  }
  napi_value out;
  slot_t *s = slot_of(eng, port);
  if (s == NULL) {
    CHECK(napi_get_null(env, &out));
    return out;
  }
  pthread_mutex_lock(&s->lock);
  party_view_t v[2] = {party_view(&s->p[0]), party_view(&s->p[1])};
  uint64_t stranger_count = counted(&s->strangers), send_error_count = counted(&s->send_errors);
  pthread_mutex_unlock(&s->lock);
  double *o = data;
  char text[2 * INET6_ADDRSTRLEN + 2] = "";
  size_t at = 0;
  for (int i = 0; i < 2; i++) {
    o[4 * i] = (double)v[i].packets;
    o[4 * i + 1] = (double)v[i].bytes;
    o[4 * i + 2] = v[i].has_sent ? 1 : 0;
    o[4 * i + 3] = ntohs(v[i].current.sin6_port);
    if (i == 1) text[at++] = ' ';
    if (v[i].current.sin6_family && inet_ntop(AF_INET6, &v[i].current.sin6_addr, text + at, INET6_ADDRSTRLEN) != NULL) at += strlen(text + at);
    text[at] = '\0';
  }
  o[8] = (double)stranger_count;
  o[9] = (double)send_error_count;
  CHECK(napi_create_string_latin1(env, text, at, &out));
  return out;
}

// relayed(engine, port) -> datagrams relayed so far (the idle sweep compares it between
// sweeps). Reads the counters without the slot's lock, so it never waits for a drain.
static napi_value js_relayed(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  slot_t *s = slot_of(eng, port);
  double n = s == NULL ? 0 : (double)(counted(&s->p[0].packets) + counted(&s->p[1].packets));
  napi_value out;
  CHECK(napi_create_double(env, n, &out));
  return out;
}

// strangers(engine, port) -> datagrams dropped from sources that were no party, without the
// slot's lock (as relayed()); the re-latch rule watches a leg's with its party's packets.
static napi_value js_strangers(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *eng;
  int port;
  if (!session_call(env, info, 2, argv, &eng, &port)) return NULL;
  slot_t *s = slot_of(eng, port);
  napi_value out;
  CHECK(napi_create_double(env, s == NULL ? 0 : (double)counted(&s->strangers), &out));
  return out;
}

// threadCounters(engine, out Float64Array(8 * workers)) -> workers, with out = for each worker
// [wakeups, received, bytes received, sent, full reads, ports, CPU seconds, dropped with no
// session]: what each thread
// did so far and the sockets it drains now, read without any slot's lock.
#define THREAD_FIELDS 8
static napi_value js_thread_counters(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!sy_args(env, info, 2, argv, "threadCounters(engine, out)")) return NULL;
  engine_t *eng = engine_arg(env, argv[0]);
  if (eng == NULL) return NULL;
  napi_typedarray_type type;
  size_t len, offset;
  void *data;
  napi_value buffer;
  bool is_typed;
  CHECK(napi_is_typedarray(env, argv[1], &is_typed));
  if (is_typed) CHECK(napi_get_typedarray_info(env, argv[1], &type, &len, &data, &buffer, &offset));
  if (!is_typed || type != napi_float64_array || len < (size_t)eng->n_workers * THREAD_FIELDS) {
    sy_throw_type(env, "native relay: threadCounters needs a Float64Array(8 * workers)");
    return NULL;
  }
  double *o = data;
  for (int i = 0; i < eng->n_workers; i++, o += THREAD_FIELDS) {
    worker_t *w = &eng->workers[i];
    worker_counters_t *c = w->counters;
    o[0] = (double)counted(&c->wakeups);
    o[1] = (double)counted(&c->received);
    o[2] = (double)counted(&c->bytes);
    o[3] = (double)counted(&c->sent);
    o[4] = (double)counted(&c->full_reads);
    o[5] = w->ports;
    o[7] = (double)counted(&c->no_session);
    clockid_t clock;
    struct timespec t;
    o[6] = pthread_getcpuclockid(w->th, &clock) == 0 && clock_gettime(clock, &t) == 0 ? (double)t.tv_sec + (double)t.tv_nsec / 1e9 : -1;
  }
  napi_value out;
  CHECK(napi_create_int32(env, eng->n_workers, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setParty", NULL, js_set_party, NULL, NULL, NULL, napi_enumerable, NULL},
      {"link", NULL, js_link, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setSignal", NULL, js_set_signal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unlatch", NULL, js_unlatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"relayed", NULL, js_relayed, NULL, NULL, NULL, napi_enumerable, NULL},
      {"strangers", NULL, js_strangers, NULL, NULL, NULL, napi_enumerable, NULL},
      {"counters", NULL, js_counters, NULL, NULL, NULL, napi_enumerable, NULL},
      {"threadCounters", NULL, js_thread_counters, NULL, NULL, NULL, napi_enumerable, NULL},
      SY_FAULT_INJECTION_PROPERTY
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(switchyard_relay, init)
