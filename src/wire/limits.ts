// Every limit of tweetdb, in one place: what a client, a peer or a page may make a
// process hold (bytes, entries, connections, time), and the bounds on what a request
// may contain. Each module that enforces a limit imports it from here; the README
// quotes these numbers. Limits depend on each other (a client request must fit in a
// message between nodes, a page of the web app in a page of the TCP API, ...):
// checkLimits() states those relations, and this module runs it when it loads, so a
// change that breaks one stops every process at its first import, with the reason.

// ---------------------------------------------------------------------------
// The TCP API: framing and client connections (src/wire/framing.ts, src/node/client-conn.ts)

/** A client request, as JSON text, is at most this many bytes (UTF-8); more is ERROR TOO_LARGE and the connection closes. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
/**
 * Objects and arrays nest at most this deep in a client's request, the request itself
 * being level 1 (so `req` and an item's `value` get about 30 levels). Deeper is refused
 * by the framing, before anything parses or stringifies it (deep enough JSON makes
 * JSON.stringify throw a RangeError).
 */
export const MAX_NESTING_DEPTH = 32;
/** Requests a connection may have read and not yet answered before reading pauses (backpressure). */
export const MAX_PIPELINED_REQUESTS = 4_096;
/** Reading pauses while the requests read and not yet started hold more than this much JSON text. */
export const MAX_QUEUED_REQUEST_BYTES = 8 * 1024 * 1024;
/** Replies are handed to the socket in pieces of at most this much text (a single longer reply goes alone, never joined to others). */
export const MAX_WRITE_BYTES = 1024 * 1024;
/**
 * While a connection's unread output (what its socket holds plus the replies queued behind
 * it) is above this, its requests are neither read nor started: a client that pipelines and
 * never reads is paused, not fed. Both resume below half of it.
 */
export const OUTPUT_PAUSE_BYTES = 4 * 1024 * 1024;
/**
 * A connection whose unread output passes this is disconnected (Redis's
 * client-output-buffer-limit). Replies alone stay under it (they pause at OUTPUT_PAUSE_BYTES,
 * and one reply is at most a few MiB); a subscriber that does not read its change feed
 * reaches it, and resubscribes with `since`.
 */
export const MAX_UNREAD_OUTPUT_BYTES = 16 * 1024 * 1024;
/** A request must be complete this long after its first byte arrived (while reading is not paused by us), else ERROR TIMEOUT and the connection closes. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** After a fatal error, how long the client's further bytes are read and dropped before the connection is destroyed. */
export const FATAL_LINGER_MS = 2_000;
/** Open client connections at most; one more is refused. */
export const MAX_CLIENT_CONNECTIONS = 10_000;
/** Connections from one address at most (loopback counts like any other); one more is told UNAVAILABLE and closed. */
export const MAX_CLIENT_CONNECTIONS_PER_ADDRESS = 1_024;
/**
 * Connections past the limits that are still told why before they are closed (the server's
 * own cap is set this far above the total limit); any beyond are dropped without a word.
 */
export const REFUSED_CONNECTIONS_HEADROOM = 1_024;
/** Connections admitted past the client limits for a node to register (worker registration is short-lived). */
export const NODE_RESERVED_CONNECTIONS = 16;
/** How long a connection in a node slot has to prove the cluster key before it is refused like a client. */
export const NODE_RESERVED_GRACE_MS = 2_000;
/** A shorter client token is refused at start: too easy to guess. */
export const CLIENT_TOKEN_MIN_CHARS = 16;
/** A longer client token is not a token (and an `auth` request carrying one is refused unread). */
export const CLIENT_TOKEN_MAX_CHARS = 1024;
/** A client token file larger than this is not read. */
export const CLIENT_TOKEN_FILE_MAX_BYTES = 4 * CLIENT_TOKEN_MAX_CHARS;

// ---------------------------------------------------------------------------
// What a request may contain (src/wire/validate.ts)

/** A tweet's content: 1 to this many Unicode code points, not blank. */
export const CONTENT_MAX_CODE_POINTS = 280;
/** A tweet id or an item key: 1 to this many characters. */
export const ID_MAX_CHARS = 128;
/** A tweet's author: 1 to this many characters. */
export const USERNAME_MAX_CHARS = 64;
/** Tweets in a get_tweets page when the request names no `limit`. */
export const GET_TWEETS_DEFAULT_LIMIT = 100;
/** The largest `limit` a get_tweets request may ask for. */
export const GET_TWEETS_MAX_LIMIT = 1000;
/** incr_item adds at most this much (either sign) at once: counters count events one or a few at a time. */
export const COUNTER_MAX_STEP = 1_000_000;

/** An item's value, as JSON text, at most this long: accounts and sessions are small. */
export const ITEM_VALUE_MAX_BYTES = 4096;

// ---------------------------------------------------------------------------
// The coordinator's core (src/core/coordinator.ts): TigerBeetle style, everything has one.

export const CORE_LIMITS = {
  /** Writes in one transaction (a `transaction` request, or one opened with `begin`). */
  opsPerTransaction: 100,
  /** Requests queued behind an interactive transaction's current one. */
  interactiveQueue: 1_000,
  /** Workers in one cluster. */
  maxWorkers: 32,
  /**
   * Commits held for a learner while its copy runs (they are sent once its last page is installed);
   * a learner whose copy outlasts this many commits starts its copy over.
   */
  learnerBufferCommits: 50_000,
  /** A learner this close to the newest commit (commits streamed and not yet applied) is promoted to voter. */
  promoteWithinCommits: 64,
  /** Replicates a worker holds that arrived ahead of one still missing (only a network that reorders sends them). */
  replicatesAhead: 1_024,
  /** Votes the coordinator holds from one link that arrived ahead of one still missing (the same); past it, the link starts over. */
  votesAhead: 1_024,
  /** Change events kept (at least) for subscribers that resume with `since`. */
  recentEvents: 10_000,
  /** Connections following the change feed at once. */
  subscribers: 1_000,
  /** Distinct get_tweets pages kept between two commits. */
  cachedPages: 64,
  /** Connections following the trace feed at once (each gets every sampled line: a few are enough). */
  traceSubscribers: 16,
  /** Transactions whose steps are being recorded at once; past it new ones go untraced (and are counted). */
  openTraces: 10_000,
  /** Trace lines a second, about, before the feed samples (each line states its rate). */
  traceLinesPerSecond: 200,
} as const;

/** Rows the coordinator asks for in one page of a full copy to a joining worker. */
export const COPY_PAGE_ROWS = 2_000;
/** A voter not up for this long is evicted from the voters, unless `--evict-after` says otherwise. */
export const EVICT_AFTER_MS = 10_000;

// ---------------------------------------------------------------------------
// Links between nodes (src/node/json-link.ts, src/node/link-auth.ts, src/wire/node-messages.ts)

/** Peer messages may carry a page of a full copy; they get a larger limit than client requests. */
export const PEER_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The longest line a peer may send before it is authenticated: the handshake's messages are far smaller. */
export const UNAUTHENTICATED_MAX_MESSAGE_BYTES = 1024;
/** The most characters joined into one socket write on a link (a single longer line goes alone). */
export const LINK_WRITE_MAX_CHARS = 1024 * 1024;
/** A link handshake not finished within this time closes the link. */
export const AUTH_TIMEOUT_MS = 5_000;
/** A cluster key file shorter than this (in bytes, once decoded) is refused: too easy to guess. */
export const CLUSTER_KEY_MIN_BYTES = 16;
/** A cluster key file larger than this is not a key file. */
export const CLUSTER_KEY_FILE_MAX_BYTES = 4096;
/** Links a worker keeps to other workers, opened when a question is to be asked. */
export const MAX_PEER_LINKS = 64;
/** Writes in one prepare: the coordinator's transaction limit. */
export const NODE_MAX_OPS = CORE_LIMITS.opsPerTransaction;
/** Voters named in one prepare: every worker of the cluster votes, and a cluster has at most this many. */
export const NODE_MAX_VOTERS = CORE_LIMITS.maxWorkers;
/**
 * Prepared transactions one worker reports in its `state`: each holds locks and waits for an
 * outcome; a worker with more is not one this coordinator drove. Each entry names its voters
 * (at most 32 ids of 64 characters) and its cseq: at most ~2.2 KB, so 20,000 fit in one line
 * (PEER_MAX_MESSAGE_BYTES).
 */
export const NODE_MAX_PREPARED = 20_000;
/** Rows in one page of a full copy (asked by copy_read, in its copy_page, in an install): five times COPY_PAGE_ROWS. */
export const NODE_MAX_COPY_ROWS = 10_000;
/**
 * Tweets one get_tweets read may ask for and be answered with. A client page is at most 1,000
 * tweets and the coordinator asks one more; while commits are being applied it also asks for as
 * many more as they wrote (the overlay), which this leaves room for.
 */
export const NODE_MAX_READ_TWEETS = 1_001 + 10_000;
/**
 * Characters (UTF-16 units) of a read answered as the client's reply line (read_text): a page of
 * at most 1,000 tweets, each at most ~2,200 characters as JSON even with every character escaped.
 */
export const NODE_MAX_READ_TEXT_CHARS = 4 * 1024 * 1024;
/** Characters of an error sentence in lock_refused, vote and read_failed. */
export const NODE_MAX_ERROR_CHARS = 4_096;
/** Characters of a worker address (HOST:PORT): a DNS name is at most 253. */
export const NODE_MAX_ADDRESS_CHARS = 300;
/**
 * Characters of the tweet id in a get_tweets cursor (`before`). A client sends the cursor, and
 * src/wire/validate.ts checks only that it decodes: its id may be anything up to the client
 * request limit, with control characters. A stricter rule here would let any client close the
 * coordinator's link to a worker with one read, so the id is checked only for its length and
 * well-formedness (the worker only compares it in SQL).
 */
export const NODE_MAX_CURSOR_ID_CHARS = DEFAULT_MAX_REQUEST_BYTES;
/** Nesting depth of an item's value: the value object itself is depth 1. */
export const ITEM_VALUE_MAX_DEPTH = 32;
/** The lock timeout a hello may set, in ms: the CLI allows at most 3,600 s. */
export const NODE_MAX_LOCK_TIMEOUT_MS = 3_600_000;
/** Most characters of the `error` a node-message parser returns; input is never echoed beyond a short excerpt. */
export const PARSE_ERROR_MAX_CHARS = 200;

// ---------------------------------------------------------------------------
// A worker's store (src/storage/worker-store.ts)

/** Rendered get_tweets pages kept between two changes of the data (the newest page is read far more than any other). */
export const MAX_RENDERED_PAGES = 64;

// ---------------------------------------------------------------------------
// The web app (src/web)

/** Largest request body accepted: a tweet is 280 characters, an account two short strings. */
export const BODY_LIMIT_BYTES = 16 * 1024;
/** Tweets in a page of GET /api/tweet: `limit` 1 to max, default when absent. */
export const WEB_PAGE = { default: 20, max: 100 } as const;

/**
 * How long the web app retries a like, a reply or a post refused with LOCKED: the default lock
 * timeout, by which any holder has been decided or aborted (a burst of likes on one tweet queues
 * on its counter; a retried post meets its own earlier attempt still settling).
 */
export const WEB_LOCKED_RETRY_MS = 10_000;
/** A web account's username: 1 to this many letters, digits or `_` (it becomes a tweet's author). */
export const WEB_USERNAME_MAX_CHARS = 32;
/** A password: this many characters at least... */
export const PASSWORD_MIN_CHARS = 8;
/** ...and at most this many (scrypt hashes it whole). */
export const PASSWORD_MAX_CHARS = 200;
/** An Idempotency-Key header: 1 to this many visible ASCII characters. */
export const IDEMPOTENCY_KEY_MAX_CHARS = 200;
/** A `before` cursor in GET /api/tweet: at most this many characters (a coordinator cursor is far shorter). */
export const WEB_CURSOR_MAX_CHARS = 400;
/** Connections from one web server to the coordinator (its pool), unless told otherwise. */
export const WEB_COORDINATOR_CONNECTIONS = 16;
/**
 * Sign-in and sign-up attempts from one client address in a window; one more is 429. The
 * address is the socket's, or, through a proxy named by --trust-proxy, the client's address
 * that proxy forwarded (X-Forwarded-For).
 */
export const AUTH_PER_ADDRESS = { max: 10, windowMs: 60_000 } as const;
/**
 * Sign-in and sign-up attempts naming one account (its username in any case) in a window,
 * from any number of addresses; one more is 429 until the window ends. Every attempt counts,
 * not only failed ones: a failure is known only after the password hash (tens of ms), so
 * counting failures would let guesses sent in parallel through before the first is counted.
 */
export const AUTH_PER_ACCOUNT = { max: 10, windowMs: 60_000 } as const;
/**
 * Counters kept by each of the two limits (least recently used dropped first). An entry is a
 * few dozen bytes; at this size, evicting a guessed account's counter takes attempts at 100,000
 * other names within the window, which the per-address limit stretches over 10,000 addresses.
 */
export const AUTH_LIMITER_KEYS = 100_000;
/** The longest --trust-proxy list accepted (entries). */
export const TRUST_PROXY_MAX_ENTRIES = 64;

/** Limits on the event streams of one web server. */
export const EVENT_LIMITS = {
  /** Streams open at once on this server; one more is 503 UNAVAILABLE. */
  clients: 10_000,
  /**
   * Streams open at once per account (all its sessions and tabs); one more is 429
   * TOO_MANY_STREAMS. 8 covers a person's tabs and devices; it takes 1,250 accounts to fill
   * `clients`, not one.
   */
  perUser: 8,
  /** Events kept for pages that reconnect with Last-Event-ID. */
  recent: 1_000,
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: 15_000,
  /**
   * Every open stream's session is read again this often: a session ended elsewhere (logout on
   * another web server, expiry) closes its streams within this time. A logout on this server
   * closes them at once.
   */
  sessionRecheckMs: 30_000,
  /** Session reads in flight at once during a re-check (the rest of the pool stays for users). */
  recheckConcurrency: 4,
  /**
   * Bytes a page may leave unread on its stream; past this it is closed (the page reconnects
   * with Last-Event-ID and is replayed or told to resync), so a page that never reads costs at
   * most this much memory.
   */
  maxBufferedBytes: 1024 * 1024,
};

/** Limits of the cluster page (`/cluster`) on one web server (src/web/cluster-watch.ts). */
export const CLUSTER_PAGE_LIMITS = {
  /** Pages following the cluster at once on this server; one more is 503 UNAVAILABLE. An operator's page: a few are plenty. */
  followers: 64,
  /** Of them, per account; one more is 429 TOO_MANY_STREAMS. */
  perUser: 4,
  /**
   * Transactions sent to each page a second at most; beyond it 1 in N is sent, N stated in each
   * line (times the coordinator's own sampling). A person reads a few rows a second; a phone on a
   * slow link should not get 200 lines a second.
   */
  linesPerSecond: 50,
  /** Recent (sampled) transactions kept for a page that opens, so its timeline is not empty. */
  recent: 30,
  /** How often status and check are asked for while a page follows (each never overlaps itself). */
  pollMs: 1_000,
  /** A status or check not answered in this long counts as failed (check waits on every worker). */
  pollTimeoutMs: 5_000,
  /** Bytes a page may leave unread (its queue); past this its stream is closed and the page reconnects. */
  maxBufferedBytes: 256 * 1024,
};

// ---------------------------------------------------------------------------
// The relations between them, checked when this module loads.

/** Every limit above, by name: what checkLimits() reads (a test passes it a broken copy). */
export const ALL_LIMITS = {
  WEB_LOCKED_RETRY_MS,
  COUNTER_MAX_STEP,
  DEFAULT_MAX_REQUEST_BYTES,
  MAX_NESTING_DEPTH,
  MAX_PIPELINED_REQUESTS,
  MAX_QUEUED_REQUEST_BYTES,
  MAX_WRITE_BYTES,
  OUTPUT_PAUSE_BYTES,
  MAX_UNREAD_OUTPUT_BYTES,
  REQUEST_TIMEOUT_MS,
  FATAL_LINGER_MS,
  MAX_CLIENT_CONNECTIONS,
  MAX_CLIENT_CONNECTIONS_PER_ADDRESS,
  REFUSED_CONNECTIONS_HEADROOM,
  NODE_RESERVED_CONNECTIONS,
  NODE_RESERVED_GRACE_MS,
  CLIENT_TOKEN_MIN_CHARS,
  CLIENT_TOKEN_MAX_CHARS,
  CLIENT_TOKEN_FILE_MAX_BYTES,
  CONTENT_MAX_CODE_POINTS,
  ID_MAX_CHARS,
  USERNAME_MAX_CHARS,
  GET_TWEETS_DEFAULT_LIMIT,
  GET_TWEETS_MAX_LIMIT,
  ITEM_VALUE_MAX_BYTES,
  CORE_LIMITS,
  COPY_PAGE_ROWS,
  EVICT_AFTER_MS,
  PEER_MAX_MESSAGE_BYTES,
  UNAUTHENTICATED_MAX_MESSAGE_BYTES,
  LINK_WRITE_MAX_CHARS,
  AUTH_TIMEOUT_MS,
  CLUSTER_KEY_MIN_BYTES,
  CLUSTER_KEY_FILE_MAX_BYTES,
  MAX_PEER_LINKS,
  NODE_MAX_OPS,
  NODE_MAX_VOTERS,
  NODE_MAX_PREPARED,
  NODE_MAX_COPY_ROWS,
  NODE_MAX_READ_TWEETS,
  NODE_MAX_READ_TEXT_CHARS,
  NODE_MAX_ERROR_CHARS,
  NODE_MAX_ADDRESS_CHARS,
  NODE_MAX_CURSOR_ID_CHARS,
  ITEM_VALUE_MAX_DEPTH,
  NODE_MAX_LOCK_TIMEOUT_MS,
  PARSE_ERROR_MAX_CHARS,
  MAX_RENDERED_PAGES,
  BODY_LIMIT_BYTES,
  WEB_PAGE,
  WEB_USERNAME_MAX_CHARS,
  PASSWORD_MIN_CHARS,
  PASSWORD_MAX_CHARS,
  IDEMPOTENCY_KEY_MAX_CHARS,
  WEB_CURSOR_MAX_CHARS,
  WEB_COORDINATOR_CONNECTIONS,
  AUTH_PER_ADDRESS,
  AUTH_PER_ACCOUNT,
  AUTH_LIMITER_KEYS,
  TRUST_PROXY_MAX_ENTRIES,
  EVENT_LIMITS,
  CLUSTER_PAGE_LIMITS,
};

export type Limits = typeof ALL_LIMITS;

/**
 * One tweet as JSON, at most (UTF-16 units): content may hold control characters, escaped as
 * \uXXXX (6 each); ids and usernames may not, so their worst is `"` or `\` (2 each); 200 for
 * the field names and the two times.
 */
function maxTweetJsonChars(l: Limits): number {
  return 6 * l.CONTENT_MAX_CODE_POINTS + 2 * (l.ID_MAX_CHARS + l.USERNAME_MAX_CHARS) + 200;
}

/**
 * The relations the limits must keep, each with why: the broken ones, as sentences (empty: all
 * hold). A count or size that is not a positive whole number is broken too.
 */
export function limitProblems(l: Limits): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, why: string): void => {
    if (!ok) problems.push(why);
  };
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === 'number') need(Number.isSafeInteger(v) && v > 0, `${prefix} must be a positive whole number (it is ${v})`);
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(prefix === '' ? k : `${prefix}.${k}`, x);
  };
  walk('', l);

  // The TCP API.
  need(l.DEFAULT_MAX_REQUEST_BYTES < l.PEER_MAX_MESSAGE_BYTES, 'a client request (DEFAULT_MAX_REQUEST_BYTES) must fit in a message between nodes (PEER_MAX_MESSAGE_BYTES): its writes travel in a prepare');
  need(l.NODE_MAX_OPS * (maxTweetJsonChars(l) + l.ITEM_VALUE_MAX_BYTES) <= l.PEER_MAX_MESSAGE_BYTES, 'a prepare of NODE_MAX_OPS writes, each the largest tweet or item, must fit in a message between nodes (PEER_MAX_MESSAGE_BYTES)');
  need(l.MAX_WRITE_BYTES <= l.OUTPUT_PAUSE_BYTES, 'a socket write (MAX_WRITE_BYTES) must not exceed the unread output at which reading pauses (OUTPUT_PAUSE_BYTES)');
  need(2 * l.OUTPUT_PAUSE_BYTES <= l.MAX_UNREAD_OUTPUT_BYTES, 'a paused connection (OUTPUT_PAUSE_BYTES) must have room for a reply of a few MiB before it is cut (MAX_UNREAD_OUTPUT_BYTES, at least twice the pause mark)');
  need(3 * l.NODE_MAX_READ_TEXT_CHARS <= l.MAX_UNREAD_OUTPUT_BYTES, 'the largest get_tweets reply (NODE_MAX_READ_TEXT_CHARS, up to 3 bytes a character) must not alone cut a client off (MAX_UNREAD_OUTPUT_BYTES)');
  need(l.MAX_QUEUED_REQUEST_BYTES >= l.DEFAULT_MAX_REQUEST_BYTES, 'the requests queued on a connection (MAX_QUEUED_REQUEST_BYTES) must hold at least one whole request');
  need(l.MAX_CLIENT_CONNECTIONS_PER_ADDRESS <= l.MAX_CLIENT_CONNECTIONS, 'the connections of one address (MAX_CLIENT_CONNECTIONS_PER_ADDRESS) cannot exceed all connections (MAX_CLIENT_CONNECTIONS)');
  need(l.NODE_RESERVED_CONNECTIONS <= l.REFUSED_CONNECTIONS_HEADROOM, 'the slots kept for nodes (NODE_RESERVED_CONNECTIONS) must fit in the headroom above the client limit (REFUSED_CONNECTIONS_HEADROOM)');
  need(l.NODE_RESERVED_GRACE_MS <= l.AUTH_TIMEOUT_MS, 'a node in a reserved slot (NODE_RESERVED_GRACE_MS) cannot have longer to prove the key than any link (AUTH_TIMEOUT_MS)');
  need(l.CLIENT_TOKEN_MIN_CHARS <= l.CLIENT_TOKEN_MAX_CHARS, 'CLIENT_TOKEN_MIN_CHARS must not exceed CLIENT_TOKEN_MAX_CHARS');
  need(l.CLIENT_TOKEN_FILE_MAX_BYTES >= l.CLIENT_TOKEN_MAX_CHARS, 'a token file (CLIENT_TOKEN_FILE_MAX_BYTES) must hold the longest token (CLIENT_TOKEN_MAX_CHARS)');
  need(l.CLIENT_TOKEN_MAX_CHARS < l.DEFAULT_MAX_REQUEST_BYTES, 'an auth request with the longest token (CLIENT_TOKEN_MAX_CHARS) must fit in a request (DEFAULT_MAX_REQUEST_BYTES)');

  // Requests and their replies.
  need(l.GET_TWEETS_DEFAULT_LIMIT <= l.GET_TWEETS_MAX_LIMIT, 'GET_TWEETS_DEFAULT_LIMIT must not exceed GET_TWEETS_MAX_LIMIT');
  need(l.ITEM_VALUE_MAX_BYTES < l.DEFAULT_MAX_REQUEST_BYTES, 'an item value (ITEM_VALUE_MAX_BYTES) must fit in a request (DEFAULT_MAX_REQUEST_BYTES)');
  need(l.GET_TWEETS_MAX_LIMIT * maxTweetJsonChars(l) <= l.NODE_MAX_READ_TEXT_CHARS, 'a get_tweets page of GET_TWEETS_MAX_LIMIT tweets, every character escaped, must fit in a read_text (NODE_MAX_READ_TEXT_CHARS)');

  // The coordinator's core and the messages between nodes.
  need(l.NODE_MAX_OPS === l.CORE_LIMITS.opsPerTransaction, 'a prepare carries a whole transaction: NODE_MAX_OPS must equal CORE_LIMITS.opsPerTransaction');
  need(l.NODE_MAX_VOTERS === l.CORE_LIMITS.maxWorkers, 'every worker votes: NODE_MAX_VOTERS must equal CORE_LIMITS.maxWorkers');
  need(l.NODE_MAX_PREPARED * (100 + l.NODE_MAX_VOTERS * 67) <= l.PEER_MAX_MESSAGE_BYTES, 'a state listing NODE_MAX_PREPARED prepared transactions, each naming NODE_MAX_VOTERS voters of 64 characters, must fit in a message between nodes (PEER_MAX_MESSAGE_BYTES)');
  need(l.COPY_PAGE_ROWS <= l.NODE_MAX_COPY_ROWS, 'a page of a full copy as the coordinator asks it (COPY_PAGE_ROWS) must be accepted by the workers (NODE_MAX_COPY_ROWS)');
  need(l.NODE_MAX_READ_TWEETS >= l.GET_TWEETS_MAX_LIMIT + 1 + l.CORE_LIMITS.opsPerTransaction, 'a get_tweets read (NODE_MAX_READ_TWEETS) must hold a full page, one more, and the writes of a committing transaction (the overlay)');
  need(l.NODE_MAX_CURSOR_ID_CHARS >= l.DEFAULT_MAX_REQUEST_BYTES, 'a cursor id is whatever a client sent (NODE_MAX_CURSOR_ID_CHARS must be at least DEFAULT_MAX_REQUEST_BYTES): a stricter rule would let a client close a link to a worker');
  need(l.COPY_PAGE_ROWS * (maxTweetJsonChars(l) + l.ITEM_VALUE_MAX_BYTES) <= l.PEER_MAX_MESSAGE_BYTES, 'a page of a full copy (COPY_PAGE_ROWS rows, tweets or items) must fit in a message between nodes (PEER_MAX_MESSAGE_BYTES)');
  need(l.ITEM_VALUE_MAX_DEPTH >= l.MAX_NESTING_DEPTH - 2, 'every item value a client may send (at level 3 of its request, under MAX_NESTING_DEPTH) must pass between nodes (ITEM_VALUE_MAX_DEPTH): else one request could close a link to a worker');
  need(l.CORE_LIMITS.cachedPages <= l.CORE_LIMITS.recentEvents, 'CORE_LIMITS.cachedPages must not exceed CORE_LIMITS.recentEvents');
  need(l.CLUSTER_KEY_MIN_BYTES * 2 <= l.CLUSTER_KEY_FILE_MAX_BYTES, 'a key file (CLUSTER_KEY_FILE_MAX_BYTES) must hold the shortest key as hex (CLUSTER_KEY_MIN_BYTES)');
  need(l.PARSE_ERROR_MAX_CHARS <= l.NODE_MAX_ERROR_CHARS, 'PARSE_ERROR_MAX_CHARS must not exceed NODE_MAX_ERROR_CHARS');

  // The web app, a client of the TCP API.
  need(l.WEB_PAGE.default <= l.WEB_PAGE.max, 'WEB_PAGE.default must not exceed WEB_PAGE.max');
  need(l.WEB_PAGE.max <= l.GET_TWEETS_MAX_LIMIT, 'a web page (WEB_PAGE.max) must fit in a get_tweets page (GET_TWEETS_MAX_LIMIT)');
  need(l.WEB_USERNAME_MAX_CHARS <= l.USERNAME_MAX_CHARS, 'a web username (WEB_USERNAME_MAX_CHARS) becomes a tweet author (USERNAME_MAX_CHARS)');
  need(l.WEB_USERNAME_MAX_CHARS <= l.ID_MAX_CHARS, 'a web username (WEB_USERNAME_MAX_CHARS) is the key of a user item (ID_MAX_CHARS)');
  need(l.PASSWORD_MIN_CHARS <= l.PASSWORD_MAX_CHARS, 'PASSWORD_MIN_CHARS must not exceed PASSWORD_MAX_CHARS');
  need(l.BODY_LIMIT_BYTES < l.DEFAULT_MAX_REQUEST_BYTES, 'a web request body (BODY_LIMIT_BYTES) becomes a coordinator request (DEFAULT_MAX_REQUEST_BYTES)');
  need(l.EVENT_LIMITS.perUser <= l.EVENT_LIMITS.clients, 'EVENT_LIMITS.perUser must not exceed EVENT_LIMITS.clients');
  need(l.EVENT_LIMITS.recent <= l.CORE_LIMITS.recentEvents, 'a web server keeps (EVENT_LIMITS.recent) no more events than the coordinator replays (CORE_LIMITS.recentEvents)');
  need(l.EVENT_LIMITS.recheckConcurrency < l.WEB_COORDINATOR_CONNECTIONS, 'session re-checks (EVENT_LIMITS.recheckConcurrency) must leave connections of the pool (WEB_COORDINATOR_CONNECTIONS) for users');
  need(l.CLUSTER_PAGE_LIMITS.perUser <= l.CLUSTER_PAGE_LIMITS.followers, 'CLUSTER_PAGE_LIMITS.perUser must not exceed CLUSTER_PAGE_LIMITS.followers');
  need(l.CLUSTER_PAGE_LIMITS.pollMs < l.CLUSTER_PAGE_LIMITS.pollTimeoutMs, 'a poll of the cluster page (CLUSTER_PAGE_LIMITS.pollTimeoutMs) may outlast its interval (pollMs), never the reverse');
  need(l.EVENT_LIMITS.heartbeatMs < l.EVENT_LIMITS.sessionRecheckMs, 'EVENT_LIMITS.heartbeatMs must be shorter than EVENT_LIMITS.sessionRecheckMs');
  return problems;
}

/** Throws, naming every broken relation, unless the limits hold together. */
export function checkLimits(l: Limits): void {
  const problems = limitProblems(l);
  if (problems.length > 0) throw new Error(`tweetdb's limits (src/wire/limits.ts) contradict each other:\n- ${problems.join('\n- ')}`);
}

checkLimits(ALL_LIMITS);
