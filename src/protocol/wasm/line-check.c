// The byte-level export line check of line-check.ts, compiled to WebAssembly (with SIMD) for
// the reader's hot path. It must accept exactly the lines that are valid UTF-8 and that
// line-check.ts accepts, and extract the same top-level fields; it only says ok or not ok, and
// line-check.ts (after the UTF-8 check) explains a bad line. Outside strings a valid line has
// only ASCII, so checking the UTF-8 of every string checks the whole line's.
// Build: npm run build:wasm (clang and wasm-ld), which regenerates line-check.wasm.ts.
#include <stdint.h>
#include <wasm_simd128.h>

typedef uint8_t u8;
typedef int32_t i32;
typedef uint32_t u32;

enum { K_STRING = 1, K_NUMBER, K_OBJECT, K_ARRAY, K_BOOL, K_NULL };
enum { E_STR = 1, E_STRLIST, E_STRMAP, E_BOOL, E_ANY };
enum { MAX_DEPTH = 512 };

// Result flags (word 0 of a line's result).
enum { BAD = 1, EV_ESCAPED = 2, NAME_ESCAPED = 4, MSG_ESCAPED = 8 };

// The ExportMsg fields in Go order with their types (record.ts EXPORT_MSG_FIELD_TYPES).
static const struct field {
  const char *name;
  u32 len;
  int expect;
} FIELDS[] = {
    {"id", 2, E_STR},
    {"details", 7, E_ANY},
    {"eventType", 9, E_STR},
    {"group", 5, E_STR},
    {"version", 7, E_STR},
    {"kind", 4, E_STR},
    {"name", 4, E_STR},
    {"namespace", 9, E_STR},
    {"message", 7, E_STR},
    {"enforcementAction", 17, E_STR},
    {"enforcementActions", 18, E_STRLIST},
    {"constraintAnnotations", 21, E_STRMAP},
    {"resourceGroup", 13, E_STR},
    {"resourceAPIVersion", 18, E_STR},
    {"resourceKind", 12, E_STR},
    {"resourceNamespace", 17, E_STR},
    {"resourceName", 12, E_STR},
    {"resourceLabels", 14, E_STRMAP},
    {"timestamp", 9, E_STR},
    {"operation", 9, E_STR},
    {"requestResource", 15, E_STR},
    {"requestSubresource", 18, E_STR},
    {"requestUsername", 15, E_STR},
    {"requestUserUID", 14, E_STR},
    {"requestUserGroups", 17, E_STRLIST},
    {"dryRun", 6, E_BOOL},
};
enum { NFIELDS = sizeof FIELDS / sizeof FIELDS[0], F_EVENT_TYPE = 2, F_NAME = 6, F_MESSAGE = 8 };

// Scan results besides the position (the position is returned; 0 means "not valid").
static int kind;
static int escaped;
static const u8 *str_start;

static const u8 *ws_slow(const u8 *p, const u8 *e) {
  while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

// Whitespace is rare in export lines (Go's encoder writes none): one test for the common case.
static inline __attribute__((always_inline)) const u8 *ws(const u8 *p, const u8 *e) {
  return p < e && *p > ' ' ? p : ws_slow(p, e);
}

static int is_hex(u8 h) {
  return (h >= '0' && h <= '9') || (h >= 'A' && h <= 'F') || (h >= 'a' && h <= 'f');
}

// The UTF-8 sequence whose lead byte (>= 0x80) is at p, as Node's isUtf8 takes it (no overlong
// forms, no surrogates, nothing above U+10FFFF); returns the position after it, 0 if invalid.
static const u8 *utf8_sequence(const u8 *p, const u8 *e) {
  u8 c = p[0];
  if (c < 0xC2) return 0;  // a continuation byte, or an overlong two-byte form
  if (c < 0xE0) return e - p >= 2 && (p[1] & 0xC0) == 0x80 ? p + 2 : 0;
  if (c < 0xF0) {
    if (e - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)) return 0;
    return p + 3;
  }
  if (c < 0xF5) {
    if (e - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)) return 0;
    return p + 4;
  }
  return 0;
}

// A string whose opening quote is at p; returns the position after the closing quote.
static inline __attribute__((always_inline)) const u8 *string(const u8 *p, const u8 *e) {
  p++;
  str_start = p;
  int esc = 0;
  const v128_t quote = wasm_i8x16_splat('"');
  const v128_t backslash = wasm_i8x16_splat('\\');
  const v128_t space = wasm_i8x16_splat(0x20);
  for (;;) {
    // Sixteen bytes a step through plain ASCII content: stop at '"', '\\', a control character
    // or a non-ASCII byte (one signed comparison: bytes >= 0x80 are negative).
    for (;;) {
      if (e - p < 16) {
        while (p < e && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80) p++;
        break;
      }
      v128_t v = wasm_v128_load(p);
      v128_t stop = wasm_v128_or(wasm_v128_or(wasm_i8x16_eq(v, quote), wasm_i8x16_eq(v, backslash)),
                                 wasm_i8x16_lt(v, space));
      u32 bits = wasm_i8x16_bitmask(stop);
      if (bits) {
        p += __builtin_ctz(bits);
        break;
      }
      p += 16;
    }
    if (p >= e) return 0;
    u8 c = *p;
    if (c == '"') break;
    if (c >= 0x80) {
      if (!(p = utf8_sequence(p, e))) return 0;
      continue;
    }
    if (c != '\\') return 0;  // a control character
    esc = 1;
    if (e - p < 2) return 0;
    u8 x = p[1];
    if (x == 'u') {
      if (e - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5])) return 0;
      p += 6;
    } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' ||
               x == 't') {
      p += 2;
    } else {
      return 0;
    }
  }
  escaped = esc;
  return p + 1;
}

static const u8 *digits(const u8 *p, const u8 *e) {
  const u8 *s = p;
  while (p < e && *p >= '0' && *p <= '9') p++;
  return p == s ? 0 : p;
}

static const u8 *number(const u8 *p, const u8 *e) {
  if (p < e && *p == '-') p++;
  if (p < e && *p == '0') p++;
  else if (!(p = digits(p, e))) return 0;
  if (p < e && *p == '.' && !(p = digits(p + 1, e))) return 0;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (!(p = digits(p, e))) return 0;
  }
  return p;
}

static const u8 *literal(const u8 *p, const u8 *e, const char *text, u32 len, int k) {
  if ((u32)(e - p) < len) return 0;
  for (u32 i = 0; i < len; i++)
    if (p[i] != (u8)text[i]) return 0;
  kind = k;
  return p + len;
}

static const u8 *container(const u8 *p, const u8 *e, int depth, int strings);

// Any value at p; its kind in `kind`.
static const u8 *value(const u8 *p, const u8 *e, int depth, int strings) {
  if (p >= e) return 0;
  u8 c = *p;
  if (c == '"') {
    kind = K_STRING;
    return string(p, e);
  }
  if (c == '{' || c == '[') return container(p, e, depth, strings);
  if (c == '-' || (c >= '0' && c <= '9')) {
    kind = K_NUMBER;
    return number(p, e);
  }
  if (c == 't') return literal(p, e, "true", 4, K_BOOL);
  if (c == 'f') return literal(p, e, "false", 5, K_BOOL);
  if (c == 'n') return literal(p, e, "null", 4, K_NULL);
  return 0;
}

// An object or array; `strings`: its elements/values must be strings (or null).
static const u8 *container(const u8 *p, const u8 *e, int depth, int strings) {
  if (depth > MAX_DEPTH) return 0;
  int is_object = *p == '{';
  u8 close = is_object ? '}' : ']';
  int k = is_object ? K_OBJECT : K_ARRAY;
  p = ws(p + 1, e);
  if (p < e && *p == close) {
    kind = k;
    return p + 1;
  }
  for (;;) {
    if (is_object) {
      if (p >= e || *p != '"' || !(p = string(p, e))) return 0;
      p = ws(p, e);
      if (p >= e || *p != ':') return 0;
      p = ws(p + 1, e);
    }
    if (p < e && *p == '"') {
      kind = K_STRING;
      p = string(p, e);
    } else {
      p = value(p, e, depth + 1, 0);
    }
    if (!p) return 0;
    if (strings && kind != K_STRING && kind != K_NULL) return 0;
    p = ws(p, e);
    if (p < e && *p == ',') {
      p = ws(p + 1, e);
      continue;
    }
    if (p < e && *p == close) {
      kind = k;
      return p + 1;
    }
    return 0;
  }
}

static int same(const u8 *p, u32 len, const struct field *f) {
  if (f->len != len) return 0;
  for (u32 i = 0; i < len; i++)
    if (p[i] != (u8)f->name[i]) return 0;
  return 1;
}

// The key at p (its opening quote) is exactly `"name"` of field f.
static inline __attribute__((always_inline)) int key_is(const u8 *p, const u8 *e,
                                                        const struct field *f) {
  if ((u32)(e - p) < f->len + 2 || p[f->len + 1] != '"') return 0;
  for (u32 i = 0; i < f->len; i++)
    if (p[i + 1] != (u8)f->name[i]) return 0;
  return 1;
}

// The known field named exactly [p, p+len), trying the next in Go order first; -1 if none.
static int known_field(const u8 *p, u32 len, int next) {
  for (int k = next; k < NFIELDS && k < next + 3; k++)
    if (same(p, len, &FIELDS[k])) return k;
  for (int k = 0; k < NFIELDS; k++)
    if (same(p, len, &FIELDS[k])) return k;
  return -1;
}

// Checks one line [p, e); writes flags and the offsets (from base) of eventType, name and
// message into out[0..6] (-1 where absent).
static void check_line(const u8 *base, const u8 *p, const u8 *e, i32 *out) {
  out[0] = BAD;
  out[1] = out[2] = out[3] = out[4] = out[5] = out[6] = -1;
  i32 flags = 0;
  p = ws(p, e);
  if (p >= e || *p != '{') return;  // not an object, or not JSON: line-check.ts says which
  p = ws(p + 1, e);
  int next = 0;
  if (p < e && *p == '}') {
    p++;
  } else {
    for (;;) {
      if (p >= e || *p != '"') return;
      int f;
      if (next < NFIELDS && key_is(p, e, &FIELDS[next])) {
        // The field Go's encoder writes next, as it writes it: no scan, no lookup.
        f = next;
        p += FIELDS[next].len + 2;
      } else {
        if (!(p = string(p, e))) return;
        f = escaped ? -1 : known_field(str_start, (u32)(p - 1 - str_start), next);
      }
      if (f >= 0) next = f + 1;
      int expect = f >= 0 ? FIELDS[f].expect : E_ANY;
      p = ws(p, e);
      if (p >= e || *p != ':') return;
      p = ws(p + 1, e);
      if (p < e && *p == '"') {
        // Most values are strings: scanned here, without the general value dispatch.
        kind = K_STRING;
        p = string(p, e);
      } else {
        p = value(p, e, 2, expect == E_STRLIST || expect == E_STRMAP);
      }
      if (!p) return;
      if (kind != K_NULL) {
        int ok = expect == E_ANY || (expect == E_STR && kind == K_STRING) ||
                 (expect == E_STRLIST && kind == K_ARRAY) ||
                 (expect == E_STRMAP && kind == K_OBJECT) || (expect == E_BOOL && kind == K_BOOL);
        if (!ok) return;
        if (kind == K_STRING && (f == F_EVENT_TYPE || f == F_NAME || f == F_MESSAGE)) {
          int slot = f == F_EVENT_TYPE ? 1 : f == F_NAME ? 3 : 5;
          i32 bit = f == F_EVENT_TYPE ? EV_ESCAPED : f == F_NAME ? NAME_ESCAPED : MSG_ESCAPED;
          out[slot] = (i32)(str_start - base);
          out[slot + 1] = (i32)(p - 1 - base);
          flags = escaped ? flags | bit : flags & ~bit;
        }
      }
      p = ws(p, e);
      if (p < e && *p == ',') {
        p = ws(p + 1, e);
        continue;
      }
      if (p < e && *p == '}') {
        p++;
        break;
      }
      return;
    }
  }
  if (ws(p, e) != e) return;
  out[0] = flags;
}

// Checks `count` lines of the bytes at `base`; line i is [base + bounds[2i], base + bounds[2i+1]).
// Writes 7 words per line to `out`. Returns how many lines are bad.
__attribute__((export_name("check_lines"))) i32 check_lines(const u8 *base, const i32 *bounds,
                                                               i32 count, i32 *out) {
  i32 bad = 0;
  for (i32 i = 0; i < count; i++) {
    check_line(base, base + bounds[2 * i], base + bounds[2 * i + 1], out + 7 * i);
    bad += out[7 * i] & BAD;
  }
  return bad;
}
