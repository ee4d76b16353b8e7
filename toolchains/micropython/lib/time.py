"""`time` for the MicroPython runtime: the host's wall and monotonic clocks, UTC calendar helpers.

The proxy's clock is UTC: `localtime` is `gmtime` and `timezone` is 0. `sleep` raises: a filter
callback must return quickly (wait with `on_tick` or an HTTP callout instead).
"""

try:
    from _proxywasm_runtime import time_ns, monotonic_ns
except ImportError:  # CPython running the shims (tests): its own clocks
    import time as _host_time

    time_ns = _host_time.time_ns
    monotonic_ns = _host_time.monotonic_ns

# The C module directly: the `collections` shim (defaultdict, Counter) is not frozen for this.
from ucollections import namedtuple

__all__ = ["time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
           "process_time", "process_time_ns", "gmtime", "localtime", "mktime", "strftime",
           "asctime", "ctime", "sleep", "struct_time", "timezone", "altzone", "daylight",
           "tzname"]

timezone = 0
altzone = 0
daylight = 0
tzname = ("UTC", "UTC")

struct_time = namedtuple("struct_time", ("tm_year", "tm_mon", "tm_mday", "tm_hour", "tm_min",
                                         "tm_sec", "tm_wday", "tm_yday", "tm_isdst"))


def time():
    """Seconds since the Unix epoch, as a float (the host's wall clock)."""
    return time_ns() / 1e9


def monotonic():
    """Seconds of a clock that never goes back, as a float."""
    return monotonic_ns() / 1e9


perf_counter = monotonic
perf_counter_ns = monotonic_ns
process_time = monotonic
process_time_ns = monotonic_ns


def sleep(seconds):
    """Refused: sleeping would stall the proxy's worker thread and every request on it."""
    raise RuntimeError("time.sleep() would block the proxy: a filter must return from its "
                       "callback and resume later (on_tick, or an HTTP callout's response)")


def _days_to_civil(days):
    """(year, month, day) of `days` since 1970-01-01 (proleptic Gregorian)."""
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _days_from_civil(year, month, day):
    year -= 1 if month <= 2 else 0
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def gmtime(secs=None):
    """The UTC calendar fields of `secs` (default: now) as a struct_time."""
    if secs is None:
        secs = time_ns() // 1000000000
    secs = int(secs // 1)
    days, rest = divmod(secs, 86400)
    year, month, day = _days_to_civil(days)
    yday = days - _days_from_civil(year, 1, 1) + 1
    return struct_time(year, month, day, rest // 3600, rest // 60 % 60, rest % 60,
                       (days + 3) % 7, yday, 0)


localtime = gmtime


def mktime(t):
    """Seconds since the epoch of UTC calendar fields (the inverse of gmtime), as a float."""
    days = _days_from_civil(t[0], t[1], 1) + t[2] - 1
    return float(days * 86400 + t[3] * 3600 + t[4] * 60 + t[5])


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _field(code, t):
    if code == "Y":
        return "%d" % t[0]
    if code == "m":
        return "%02d" % t[1]
    if code == "d":
        return "%02d" % t[2]
    if code == "H":
        return "%02d" % t[3]
    if code == "M":
        return "%02d" % t[4]
    if code == "S":
        return "%02d" % t[5]
    if code == "y":
        return "%02d" % (t[0] % 100)
    if code == "j":
        return "%03d" % t[7]
    if code == "a":
        return _DAYS[t[6]][:3]
    if code == "A":
        return _DAYS[t[6]]
    if code == "b" or code == "h":
        return _MONTHS[t[1] - 1][:3]
    if code == "B":
        return _MONTHS[t[1] - 1]
    if code == "I":
        return "%02d" % ((t[3] + 11) % 12 + 1)
    if code == "p":
        return "AM" if t[3] < 12 else "PM"
    if code == "e":
        return "%2d" % t[2]
    if code == "w":
        return "%d" % ((t[6] + 1) % 7)
    if code == "u":
        return "%d" % (t[6] + 1)
    if code == "z":
        return "+0000"
    if code == "Z":
        return "GMT"  # what CPython's strftime prints for gmtime()
    if code == "F":
        return "%d-%02d-%02d" % (t[0], t[1], t[2])
    if code == "T":
        return "%02d:%02d:%02d" % (t[3], t[4], t[5])
    if code == "c":
        return asctime(t)
    if code == "%":
        return "%"
    raise ValueError("strftime: %%%s is not supported by this runtime" % code)


def strftime(format, t=None):
    """Format calendar fields (default: now, UTC); the common C directives, in English."""
    if t is None:
        t = gmtime()
    out = []
    start = 0
    while True:
        cut = format.find("%", start)
        if cut < 0 or cut + 1 >= len(format):
            out.append(format[start:])
            return "".join(out)
        out.append(format[start:cut])
        out.append(_field(format[cut + 1], t))
        start = cut + 2


def asctime(t=None):
    """'Sun Jun 20 23:21:05 1993' for calendar fields (default: now, UTC)."""
    if t is None:
        t = gmtime()
    return "%s %s %2d %02d:%02d:%02d %d" % (_DAYS[t[6]][:3], _MONTHS[t[1] - 1][:3], t[2],
                                            t[3], t[4], t[5], t[0])


def ctime(secs=None):
    return asctime(gmtime(secs))
