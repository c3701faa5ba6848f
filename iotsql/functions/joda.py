"""The date patterns of the two Java libraries behind AWS IoT SQL's time functions:
Joda-Time's `DateTimeFormat` (`parse_time` formats with it) and java.time's
`DateTimeFormatter` of JDK 11 (`time_to_epoch` parses with it), in English (US), over the IANA
zones of `zoneinfo`.

Both work on a proleptic Gregorian calendar counted in days since the epoch, as Java does, so
years outside Python's `datetime` range (1-9999) behave as in Java; the zone offset of such a
year is taken from the same point of the 400-year Gregorian cycle inside that range.

Zone names are not in the tz database: `ZONE_NAMES` holds what Java 11 prints (short names of
the COMPAT provider, long names of CLDR) for the common zones. Another zone prints its tz
abbreviation as its short name, or its offset (`+04:00`) when that abbreviation is numeric, and
its offset as its long name (what Joda prints for a zone Java cannot name).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final

import regex

from iotsql.budget import check_time, time_left
from iotsql.limits import current_limits

#: Longer patterns are refused: no real pattern comes close, and this bounds compile time.
MAX_PATTERN_LENGTH: Final = 4096

MILLIS_PER_DAY: Final = 86_400_000
SECONDS_PER_DAY: Final = 86_400
NANOS_PER_SECOND: Final = 1_000_000_000
LONG_MIN: Final = -(2**63)
LONG_MAX: Final = 2**63 - 1

# ---- the calendar -----------------------------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def month_length(year: int, month: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def iso_day_of_week(days: int) -> int:
    """1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday)."""
    return (days + 3) % 7 + 1


# ---- zones ------------------------------------------------------------------------------------

_CYCLE_SECONDS: Final = 146_097 * SECONDS_PER_DAY  # 400 Gregorian years, a whole number of weeks
_SAFE_LOW: Final = days_from_civil(2, 1, 1) * SECONDS_PER_DAY
_SAFE_HIGH: Final = days_from_civil(9998, 1, 1) * SECONDS_PER_DAY
_UTC_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_WALL_EPOCH: Final = datetime(1970, 1, 1)


def _into_datetime_range(seconds: int) -> int:
    """`seconds` moved by whole 400-year cycles into the years `datetime` can hold: before year
    2 it lands in the zone's first (local mean time) period, after 9997 in its last rule."""
    if seconds < _SAFE_LOW:
        return seconds + -(-(_SAFE_LOW - seconds) // _CYCLE_SECONDS) * _CYCLE_SECONDS
    if seconds > _SAFE_HIGH:
        return seconds - -(-(seconds - _SAFE_HIGH) // _CYCLE_SECONDS) * _CYCLE_SECONDS
    return seconds


@dataclass(frozen=True, slots=True)
class Zone:
    """A time zone: an IANA region (`info`), or a fixed offset of `fixed_ms` milliseconds."""

    id: str
    info: zoneinfo.ZoneInfo | None = None
    fixed_ms: int = 0

    def at(self, epoch_seconds: int) -> tuple[int, int, str]:
        """(offset ms, daylight saving ms, tz abbreviation) at an instant."""
        if self.info is None:
            return self.fixed_ms, 0, ""
        moment = _UTC_EPOCH + timedelta(seconds=_into_datetime_range(epoch_seconds))
        local = moment.astimezone(self.info)
        offset = local.utcoffset() or timedelta(0)
        dst = local.dst() or timedelta(0)
        return (
            offset // timedelta(milliseconds=1),
            dst // timedelta(milliseconds=1),
            (local.tzname() or ""),
        )

    def offset_of_local(self, local_seconds: int) -> int:
        """The offset (seconds) of a wall-clock time, resolved as java.time does: in a gap the
        offset before it (the time moves later), in an overlap the earlier offset."""
        if self.info is None:
            return self.fixed_ms // 1000
        wall = _WALL_EPOCH + timedelta(seconds=_into_datetime_range(local_seconds))
        offset = wall.replace(tzinfo=self.info).utcoffset() or timedelta(0)
        return offset // timedelta(seconds=1)


UTC: Final = Zone("UTC")


@functools.lru_cache(maxsize=1)
def region_ids() -> frozenset[str]:
    """The IANA zone ids this machine's tz database holds."""
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "Factory", "posixrules"}


@functools.lru_cache(maxsize=1)
def java_region_ids() -> frozenset[str]:
    """java.time's region ids: the tz database without the three ids it keeps only as aliases."""
    return region_ids() - {"EST", "MST", "HST"}


def region_zone(zone_id: str) -> Zone | None:
    if zone_id not in region_ids():
        return None
    try:
        return Zone(zone_id, zoneinfo.ZoneInfo(zone_id))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def offset_id(offset_ms: int) -> str:
    """Joda's `DateTimeZone.printOffset`: `+05:30`, with `:ss` and `.SSS` only when nonzero."""
    sign = "+" if offset_ms >= 0 else "-"
    rest = abs(offset_ms)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    if rest:
        seconds, millis = divmod(rest, 1000)
        text += f":{seconds:02d}"
        if millis:
            text += f".{millis:03d}"
    return text


_JODA_OFFSET: Final = re.compile(
    r"[+-]([0-9]{2})(?:(:?)([0-9]{2})(?:\2([0-9]{2})(?:\.([0-9]{1,3}))?)?)?"
)


def joda_zone(zone_id: str) -> Zone | None:
    """Joda's `DateTimeZone.forID`: `UTC`, an IANA id (case-sensitive), or an offset such as
    `+05:30` or `-0800` (a zero offset is UTC). None when Joda would refuse the id."""
    if zone_id == "UTC":
        return UTC
    if zone_id[:1] in ("+", "-"):
        match = _JODA_OFFSET.fullmatch(zone_id)
        if match is None:
            return None
        hours, _, minutes, seconds, millis = match.groups()
        if int(hours) > 23 or int(minutes or 0) > 59 or int(seconds or 0) > 59:
            return None
        offset = (
            int(hours) * 3_600_000
            + int(minutes or 0) * 60_000
            + int(seconds or 0) * 1000
            + int((millis or "0").ljust(3, "0"))
        )
        offset = -offset if zone_id[0] == "-" else offset
        return UTC if offset == 0 else Zone(offset_id(offset), fixed_ms=offset)
    return region_zone(zone_id)


# Java 11's English zone names: short standard, short daylight, long standard, long daylight,
# then the zones that carry them (the first is the zone a parsed name stands for).
_ZONE_NAME_TABLE: Final = (
    ("UTC", "UTC", "Coordinated Universal Time", "Coordinated Universal Time",
     "UTC Etc/UTC Etc/UCT UCT Etc/Universal Universal Etc/Zulu Zulu"),
    ("GMT", "GMT", "Greenwich Mean Time", "Greenwich Mean Time",
     "GMT Etc/GMT Etc/GMT+0 Etc/GMT-0 Etc/GMT0 GMT+0 GMT-0 GMT0 Etc/Greenwich Greenwich "
     "Africa/Abidjan Africa/Accra Africa/Bamako Africa/Banjul Africa/Bissau Africa/Conakry "
     "Africa/Dakar Africa/Freetown Africa/Lome Africa/Monrovia Africa/Nouakchott "
     "Africa/Ouagadougou Africa/Timbuktu Atlantic/Reykjavik Atlantic/St_Helena Iceland "
     "America/Danmarkshavn"),
    ("EST", "EDT", "Eastern Standard Time", "Eastern Daylight Time",
     "America/New_York America/Detroit America/Toronto America/Montreal America/Nipigon "
     "America/Thunder_Bay America/Iqaluit America/Nassau America/Indiana/Indianapolis "
     "America/Indianapolis America/Fort_Wayne America/Indiana/Vincennes America/Indiana/Winamac "
     "America/Indiana/Marengo America/Indiana/Petersburg America/Indiana/Vevay "
     "America/Kentucky/Louisville America/Louisville America/Kentucky/Monticello "
     "America/Jamaica Jamaica America/Panama America/Cayman America/Cancun "
     "America/Port-au-Prince America/Atikokan America/Coral_Harbour US/Eastern US/Michigan "
     "US/East-Indiana Canada/Eastern EST5EDT EST"),
    ("CST", "CDT", "Central Standard Time", "Central Daylight Time",
     "America/Chicago America/Winnipeg America/Rainy_River America/Rankin_Inlet "
     "America/Resolute America/Matamoros America/Mexico_City America/Monterrey America/Merida "
     "America/Bahia_Banderas America/Belize America/Costa_Rica America/El_Salvador "
     "America/Guatemala America/Tegucigalpa America/Managua America/Regina "
     "America/Swift_Current America/Indiana/Knox America/Knox_IN America/Indiana/Tell_City "
     "America/Menominee America/North_Dakota/Center America/North_Dakota/New_Salem "
     "America/North_Dakota/Beulah US/Central US/Indiana-Starke Canada/Central "
     "Canada/Saskatchewan Mexico/General CST6CDT"),
    ("MST", "MDT", "Mountain Standard Time", "Mountain Daylight Time",
     "America/Denver America/Boise America/Edmonton America/Cambridge_Bay America/Inuvik "
     "America/Yellowknife America/Ojinaga America/Ciudad_Juarez America/Phoenix "
     "America/Creston America/Dawson_Creek America/Fort_Nelson America/Shiprock US/Mountain "
     "US/Arizona Canada/Mountain Navajo MST7MDT MST"),
    ("PST", "PDT", "Pacific Standard Time", "Pacific Daylight Time",
     "America/Los_Angeles America/Vancouver America/Tijuana America/Ensenada "
     "America/Santa_Isabel US/Pacific Canada/Pacific Mexico/BajaNorte PST8PDT"),
    ("AKST", "AKDT", "Alaska Standard Time", "Alaska Daylight Time",
     "America/Anchorage America/Juneau America/Sitka America/Yakutat America/Nome "
     "America/Metlakatla US/Alaska"),
    ("HST", "HDT", "Hawaii-Aleutian Standard Time", "Hawaii-Aleutian Daylight Time",
     "Pacific/Honolulu Pacific/Johnston US/Hawaii HST America/Adak America/Atka US/Aleutian"),
    ("AST", "ADT", "Atlantic Standard Time", "Atlantic Daylight Time",
     "America/Halifax America/Glace_Bay America/Moncton America/Goose_Bay America/Thule "
     "Atlantic/Bermuda America/Puerto_Rico America/Santo_Domingo America/Barbados "
     "America/Martinique America/Port_of_Spain America/Anguilla America/Antigua America/Aruba "
     "America/Curacao America/Dominica America/Grenada America/Guadeloupe America/Montserrat "
     "America/St_Kitts America/St_Lucia America/St_Thomas America/St_Vincent America/Tortola "
     "America/Virgin Canada/Atlantic"),
    ("NST", "NDT", "Newfoundland Standard Time", "Newfoundland Daylight Time",
     "America/St_Johns Canada/Newfoundland"),
    ("BRT", "BRST", "Brasilia Standard Time", "Brasilia Summer Time",
     "America/Sao_Paulo Brazil/East America/Bahia America/Fortaleza America/Recife "
     "America/Maceio America/Belem America/Araguaina America/Santarem"),
    ("ART", "ARST", "Argentina Standard Time", "Argentina Summer Time",
     "America/Argentina/Buenos_Aires America/Buenos_Aires America/Argentina/Cordoba "
     "America/Cordoba America/Rosario America/Argentina/Mendoza America/Mendoza "
     "America/Argentina/Salta America/Argentina/Jujuy America/Jujuy America/Argentina/Tucuman "
     "America/Argentina/Catamarca America/Catamarca America/Argentina/La_Rioja "
     "America/Argentina/San_Juan America/Argentina/Ushuaia America/Argentina/Rio_Gallegos"),
    ("IST", "IST", "India Standard Time", "India Standard Time", "Asia/Kolkata Asia/Calcutta"),
    ("GMT", "BST", "Greenwich Mean Time", "British Summer Time",
     "Europe/London GB GB-Eire Europe/Belfast Europe/Jersey Europe/Guernsey Europe/Isle_of_Man"),
    ("GMT", "IST", "Greenwich Mean Time", "Irish Standard Time", "Europe/Dublin Eire"),
    ("WET", "WEST", "Western European Standard Time", "Western European Summer Time",
     "Europe/Lisbon Portugal Atlantic/Madeira Atlantic/Canary Atlantic/Faroe Atlantic/Faeroe "
     "WET"),
    ("CET", "CEST", "Central European Standard Time", "Central European Summer Time",
     "Europe/Paris Europe/Berlin Europe/Rome Europe/Madrid Europe/Amsterdam Europe/Brussels "
     "Europe/Vienna Europe/Zurich Europe/Stockholm Europe/Oslo Europe/Copenhagen Europe/Warsaw "
     "Europe/Prague Europe/Budapest Europe/Belgrade Europe/Zagreb Europe/Ljubljana "
     "Europe/Sarajevo Europe/Skopje Europe/Bratislava Europe/Luxembourg Europe/Monaco "
     "Europe/Malta Europe/Andorra Europe/Gibraltar Europe/Tirane Europe/Vaduz "
     "Europe/San_Marino Europe/Vatican Europe/Busingen Europe/Podgorica Africa/Ceuta "
     "Africa/Algiers Africa/Tunis Arctic/Longyearbyen Atlantic/Jan_Mayen Poland CET"),
    ("EET", "EEST", "Eastern European Standard Time", "Eastern European Summer Time",
     "Europe/Athens Europe/Bucharest Europe/Helsinki Europe/Kiev Europe/Kyiv Europe/Riga "
     "Europe/Sofia Europe/Tallinn Europe/Vilnius Europe/Chisinau Europe/Tiraspol "
     "Europe/Mariehamn Europe/Uzhgorod Europe/Zaporozhye Europe/Kaliningrad Asia/Beirut "
     "Asia/Nicosia Europe/Nicosia Asia/Famagusta Asia/Gaza Asia/Hebron Africa/Cairo Egypt "
     "Africa/Tripoli Libya EET"),
    ("MSK", "MSD", "Moscow Standard Time", "Moscow Summer Time",
     "Europe/Moscow W-SU Europe/Simferopol Europe/Minsk Europe/Kirov"),
    ("IST", "IDT", "Israel Standard Time", "Israel Daylight Time",
     "Asia/Jerusalem Asia/Tel_Aviv Israel"),
    ("GST", "GST", "Gulf Standard Time", "Gulf Standard Time", "Asia/Dubai Asia/Muscat"),
    ("AST", "ADT", "Arabian Standard Time", "Arabian Daylight Time",
     "Asia/Riyadh Asia/Qatar Asia/Bahrain Asia/Kuwait Asia/Aden Asia/Baghdad"),
    ("PKT", "PKST", "Pakistan Standard Time", "Pakistan Summer Time", "Asia/Karachi"),
    ("ICT", "ICT", "Indochina Time", "Indochina Time",
     "Asia/Bangkok Asia/Ho_Chi_Minh Asia/Saigon Asia/Phnom_Penh Asia/Vientiane"),
    ("WIB", "WIB", "Western Indonesia Time", "Western Indonesia Time",
     "Asia/Jakarta Asia/Pontianak"),
    ("SGT", "SGT", "Singapore Standard Time", "Singapore Standard Time",
     "Asia/Singapore Singapore"),
    ("CST", "CDT", "China Standard Time", "China Daylight Time",
     "Asia/Shanghai Asia/Chongqing Asia/Chungking Asia/Harbin PRC"),
    ("HKT", "HKST", "Hong Kong Standard Time", "Hong Kong Summer Time",
     "Asia/Hong_Kong Hongkong"),
    ("KST", "KDT", "Korean Standard Time", "Korean Daylight Time", "Asia/Seoul ROK"),
    ("JST", "JDT", "Japan Standard Time", "Japan Daylight Time", "Asia/Tokyo Japan"),
    ("AWST", "AWDT", "Australian Western Standard Time", "Australian Western Daylight Time",
     "Australia/Perth Australia/West"),
    ("ACST", "ACDT", "Australian Central Standard Time", "Australian Central Daylight Time",
     "Australia/Adelaide Australia/South Australia/Broken_Hill Australia/Yancowinna "
     "Australia/Darwin Australia/North"),
    ("AEST", "AEDT", "Australian Eastern Standard Time", "Australian Eastern Daylight Time",
     "Australia/Sydney Australia/Melbourne Australia/Hobart Australia/Canberra Australia/ACT "
     "Australia/NSW Australia/Victoria Australia/Tasmania Australia/Currie Australia/Brisbane "
     "Australia/Queensland Australia/Lindeman"),
    ("NZST", "NZDT", "New Zealand Standard Time", "New Zealand Daylight Time",
     "Pacific/Auckland NZ Antarctica/McMurdo Antarctica/South_Pole"),
    ("SAST", "SAST", "South Africa Standard Time", "South Africa Standard Time",
     "Africa/Johannesburg Africa/Maseru Africa/Mbabane"),
    ("CAT", "CAT", "Central Africa Time", "Central Africa Time",
     "Africa/Maputo Africa/Harare Africa/Lusaka Africa/Lubumbashi Africa/Gaborone "
     "Africa/Blantyre Africa/Bujumbura Africa/Kigali"),
    ("EAT", "EAT", "East Africa Time", "East Africa Time",
     "Africa/Nairobi Africa/Addis_Ababa Africa/Dar_es_Salaam Africa/Kampala Africa/Mogadishu "
     "Africa/Djibouti Africa/Asmara Africa/Asmera Indian/Antananarivo Indian/Comoro "
     "Indian/Mayotte"),
    ("WAT", "WAST", "West Africa Standard Time", "West Africa Summer Time",
     "Africa/Lagos Africa/Kinshasa Africa/Luanda Africa/Douala Africa/Libreville Africa/Malabo "
     "Africa/Niamey Africa/Porto-Novo Africa/Bangui Africa/Brazzaville Africa/Ndjamena"),
)  # fmt: skip

#: Zone id -> (short standard, short daylight, long standard, long daylight).
ZONE_NAMES: Final[Mapping[str, tuple[str, str, str, str]]] = {
    zone: (short_std, short_dst, long_std, long_dst)
    for short_std, short_dst, long_std, long_dst, zones in _ZONE_NAME_TABLE
    for zone in zones.split()
}


def _preferred_zones(long: bool) -> dict[str, str]:
    """A zone name -> the zone it stands for when parsed (the first zone listed with it)."""
    found: dict[str, str] = {}
    for short_std, short_dst, long_std, long_dst, zones in _ZONE_NAME_TABLE:
        first = zones.split()[0]
        for name in (long_std, long_dst) if long else (short_std, short_dst):
            found.setdefault(name, first)
    return found


SHORT_NAME_ZONES: Final = _preferred_zones(long=False)
LONG_NAME_ZONES: Final = _preferred_zones(long=True)

_ETC_GMT: Final = re.compile(r"Etc/GMT[+-][0-9]{1,2}")


def zone_name(zone: Zone, epoch_seconds: int, long: bool) -> str:
    """The name Joda prints for `z` (short) or `zzzz` (long) at an instant."""
    names = ZONE_NAMES.get(zone.id)
    if zone.info is None and names is None:
        return zone.id  # a fixed offset zone is named by its id
    offset, dst, abbreviation = zone.at(epoch_seconds)
    if names is not None:
        short_std, short_dst, long_std, long_dst = names
        if short_std != short_dst and abbreviation in (short_std, short_dst):
            daylight = abbreviation == short_dst  # Irish winter time is "negative DST" in tzdata
        else:
            daylight = dst > 0
        if long:
            return long_dst if daylight else long_std
        return short_dst if daylight else short_std
    if _ETC_GMT.fullmatch(zone.id):
        return "GMT" + offset_id(offset)
    if not long and abbreviation.isalpha():
        return abbreviation
    return offset_id(offset)


# ---- English text -------------------------------------------------------------------------------

MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ERAS: Final = ("BC", "AD")
HALFDAYS: Final = ("AM", "PM")

# ---- Joda-Time formatting (parse_time) --------------------------------------------------------

#: Joda's ISOChronology year range.
JODA_MIN_YEAR: Final = -292_275_054
JODA_MAX_YEAR: Final = 292_278_993


@dataclass(frozen=True, slots=True)
class Moment:
    """The calendar fields of an instant in a zone, as Joda's ISO chronology counts them."""

    epoch_seconds: int
    zone: Zone
    offset_ms: int
    year: int
    month: int
    day: int
    millis_of_day: int
    day_of_week: int
    day_of_year: int
    weekyear: int
    week: int

    @property
    def hour(self) -> int:
        return self.millis_of_day // 3_600_000

    @property
    def minute(self) -> int:
        return self.millis_of_day // 60_000 % 60

    @property
    def second(self) -> int:
        return self.millis_of_day // 1000 % 60

    @property
    def year_of_era(self) -> int:
        return self.year if self.year > 0 else 1 - self.year


def moment(millis: int, zone: Zone) -> Moment | None:
    """The fields of `millis` (since the epoch) in `zone`; None outside Joda's range."""
    if not LONG_MIN <= millis <= LONG_MAX:
        return None
    seconds = millis // 1000
    offset_ms = zone.at(seconds)[0]
    days, millis_of_day = divmod(millis + offset_ms, MILLIS_PER_DAY)
    year, month, day = civil_from_days(days)
    if not JODA_MIN_YEAR <= year <= JODA_MAX_YEAR:
        return None
    day_of_week = iso_day_of_week(days)
    thursday = days + 4 - day_of_week  # the ISO week belongs to the year of its Thursday
    weekyear = civil_from_days(thursday)[0]
    week = (thursday - days_from_civil(weekyear, 1, 1)) // 7 + 1
    return Moment(
        epoch_seconds=seconds,
        zone=zone,
        offset_ms=offset_ms,
        year=year,
        month=month,
        day=day,
        millis_of_day=millis_of_day,
        day_of_week=day_of_week,
        day_of_year=days - days_from_civil(year, 1, 1) + 1,
        weekyear=weekyear,
        week=week,
    )


Printer = Callable[[Moment], str]


class PatternError(ValueError):
    """A pattern the Java library would refuse (IllegalArgumentException)."""


def _padded(value: int, width: int) -> str:
    """Joda's FormatUtils.appendPaddedInteger: the sign, then the digits zero-padded."""
    if value < 0:
        return "-" + str(-value).zfill(width)
    return str(value).zfill(width)


def _number(field: Callable[[Moment], int], width: int) -> Printer:
    return lambda m: _padded(field(m), width)


def _two_digits(field: Callable[[Moment], int]) -> Printer:
    return lambda m: _padded(abs(field(m)) % 100, 2)


def _fraction(count: int) -> Printer:
    """Joda's Fraction printer for `S` repeated `count` times: the millisecond fraction scaled
    to `count` digits (to 15 when 16-18 digits would overflow a long), trailing zeros kept."""
    digits = 15 if 16 <= count <= 18 else count
    scalar = 10**digits if 1 <= digits <= 18 else 1

    def print_fraction(m: Moment) -> str:
        fraction = m.millis_of_day % 1000
        if fraction == 0:
            return "0" * count
        text = str(fraction * scalar // 1000)
        length = len(text)
        width = digits
        minimum = count
        out = ""
        while length < width:
            out += "0"
            minimum -= 1
            width -= 1
        if minimum < width:
            while minimum < width and length > 1 and text[length - 1] == "0":
                width -= 1
                length -= 1
            if length < len(text):
                return out + text[:length]
        return out + text

    return print_fraction


def _offset(colon: bool) -> Printer:
    """`Z` (-0800) and `ZZ` (-08:00): hours and minutes of the offset."""

    def print_offset(m: Moment) -> str:
        sign = "+" if m.offset_ms >= 0 else "-"
        minutes = abs(m.offset_ms) // 60_000
        return f"{sign}{minutes // 60:02d}{':' if colon else ''}{minutes % 60:02d}"

    return print_offset


def _hour_of_halfday(m: Moment) -> int:
    return m.hour % 12


def _clockhour_of_halfday(m: Moment) -> int:
    return m.hour % 12 or 12


def _clockhour_of_day(m: Moment) -> int:
    return m.hour or 24


_JODA_NUMBERS: Final[dict[str, Callable[[Moment], int]]] = {
    "d": lambda m: m.day,
    "h": _clockhour_of_halfday,
    "H": lambda m: m.hour,
    "k": _clockhour_of_day,
    "K": _hour_of_halfday,
    "m": lambda m: m.minute,
    "s": lambda m: m.second,
    "e": lambda m: m.day_of_week,
    "D": lambda m: m.day_of_year,
    "w": lambda m: m.week,
    "C": lambda m: abs(m.year) // 100,
    "y": lambda m: m.year,
    "Y": lambda m: m.year_of_era,
    "x": lambda m: m.weekyear,
}


def _joda_token(pattern: str, start: int) -> tuple[str, int]:
    """Joda's DateTimeFormat.parseToken: a run of one letter, or literal text (quoted or not,
    `''` for a quote) up to the next unquoted letter. Returns the token (literals start with
    a quote) and the index of its last character."""
    char = pattern[start]
    if char.isascii() and char.isalpha():
        end = start
        while end + 1 < len(pattern) and pattern[end + 1] == char:
            end += 1
        return pattern[start : end + 1], end
    out = ["'"]
    quoted = False
    index = start
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            if index + 1 < len(pattern) and pattern[index + 1] == "'":
                index += 1
                out.append("'")
            else:
                quoted = not quoted
        elif not quoted and char.isascii() and char.isalpha():
            index -= 1
            break
        else:
            out.append(char)
        index += 1
    return "".join(out), min(index, len(pattern) - 1)


def _joda_printer(token: str) -> Printer:
    letter, count = token[0], len(token)
    if letter == "'":
        text = token[1:]
        return lambda m: text
    if letter in ("y", "Y", "x") and count == 2:
        # Joda's two-digit year prints the (signed) year even for `YY`, and the weekyear for `xx`.
        return _two_digits(_JODA_NUMBERS["x" if letter == "x" else "y"])
    if letter in _JODA_NUMBERS:
        return _number(_JODA_NUMBERS[letter], count)
    if letter == "M":
        if count >= 4:
            return lambda m: MONTHS[m.month - 1]
        if count == 3:
            return lambda m: MONTHS[m.month - 1][:3]
        return _number(lambda m: m.month, count)
    if letter == "E":
        if count >= 4:
            return lambda m: DAYS[m.day_of_week - 1]
        return lambda m: DAYS[m.day_of_week - 1][:3]
    if letter == "G":
        return lambda m: ERAS[m.year > 0]
    if letter == "a":
        return lambda m: HALFDAYS[m.hour >= 12]
    if letter == "S":
        return _fraction(count)
    if letter == "Z":
        if count <= 2:
            return _offset(colon=count == 2)
        return lambda m: m.zone.id
    if letter == "z":
        long = count >= 4
        return lambda m: zone_name(m.zone, m.epoch_seconds, long)
    raise PatternError(f"Illegal pattern component: {token}")


@functools.lru_cache(maxsize=256)
def joda_printers(pattern: str) -> tuple[Printer, ...] | None:
    """The printers of a Joda-Time DateTimeFormat pattern, or None when Joda refuses it."""
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        return None
    printers: list[Printer] = []
    index = 0
    try:
        while index < len(pattern):
            token, last = _joda_token(pattern, index)
            printers.append(_joda_printer(token))
            index = last + 1
    except PatternError:
        return None
    return tuple(printers)


def format_joda(pattern: str, millis: int, zone: Zone) -> str | None:
    """`millis` since the epoch written with a Joda-Time pattern in `zone`; None when the
    pattern is invalid, the instant is outside Joda's range, or the text is too long."""
    printers = joda_printers(pattern)
    if printers is None:
        return None
    fields = moment(millis, zone)
    if fields is None:
        return None
    text = "".join(printer(fields) for printer in printers)
    if len(text.encode("utf-8", "replace")) > current_limits().max_value_bytes:
        return None
    return text


# ---- java.time parsing (time_to_epoch) --------------------------------------------------------


class ParseFailure(ValueError):
    """The text does not match, or its fields do not make one valid instant."""


Fields = dict[str, int]
Converter = Callable[[str], list[tuple[str, object]]]

_LETTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGIT: Final = "[0-9]"  # java.time reads ASCII digits only (regex's \d is Unicode)


def _int_field(name: str) -> Converter:
    return lambda text: [(name, int(text))]


def _texts(values: Mapping[str, int], name: str) -> tuple[str, Converter]:
    """An alternation of texts (longest first, as java.time tries them) and its converter."""
    alternatives = "|".join(regex.escape(t) for t in sorted(values, key=len, reverse=True))
    return f"(?:{alternatives})", lambda text: [(name, values[text])]


def _text_values(texts: tuple[str, ...], first: int = 1) -> dict[str, int]:
    """Text -> value; for repeated texts (narrow `J` = Jan, Jun, Jul) the last value wins, as
    java.time's text lookup keeps the last one it stored."""
    return {text: value for value, text in enumerate(texts, first)}


_QUARTERS_FULL: Final = ("1st quarter", "2nd quarter", "3rd quarter", "4th quarter")


def _year_regex(count: int) -> str:
    """`y`/`u`/`Y` repeated `count` (not 2) times: at least `count` digits; a `+` only when there
    are more (SignStyle.EXCEEDS_PAD from 4 letters), a `-` always."""
    if count < 4:
        return f"-?{_DIGIT}{{{count},19}}"
    plus = f"\\+{_DIGIT}{{{count + 1},19}}|" if count < 19 else ""
    return f"(?:{plus}-{_DIGIT}{{{count},19}}|{_DIGIT}{{{count}}})"


def _signed_year(name: str) -> Converter:
    def convert(text: str) -> list[tuple[str, object]]:
        value = int(text)
        if value == 0 and text.startswith("-"):
            raise ParseFailure("-0 is not a year")
        return [(name, value)]

    return convert


def _fraction_field(text: str) -> list[tuple[str, object]]:
    return [("nano_of_second", int(text.ljust(9, "0")))]


_OFFSET_SHAPES: Final = {
    "+HH": f"{_DIGIT}{{2}}",
    "+HHmm": f"{_DIGIT}{{2}}(?:{_DIGIT}{{2}})?",
    "+HH:mm": f"{_DIGIT}{{2}}(?::{_DIGIT}{{2}})?",
    "+HHMM": f"{_DIGIT}{{4}}",
    "+HH:MM": f"{_DIGIT}{{2}}:{_DIGIT}{{2}}",
    "+HHMMss": f"{_DIGIT}{{4}}(?:{_DIGIT}{{2}})?",
    "+HH:MM:ss": f"{_DIGIT}{{2}}:{_DIGIT}{{2}}(?::{_DIGIT}{{2}})?",
}
_X_PATTERNS: Final = ("+HHmm", "+HHMM", "+HH:MM", "+HHMMss", "+HH:MM:ss")
_MAX_OFFSET_SECONDS: Final = 18 * 3600  # ZoneOffset's range


def offset_seconds(text: str) -> int:
    """`+HH[:]MM[:]ss`-style text (sign first) as seconds; ParseFailure when out of range."""
    sign = -1 if text[0] == "-" else 1
    parts = (
        text[1:].split(":") if ":" in text else [text[i : i + 2] for i in range(1, len(text), 2)]
    )
    hours, minutes, seconds = (int(p) for p in [*parts, "0", "0"][:3])
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ParseFailure(f"offset out of range: {text}")
    total = hours * 3600 + minutes * 60 + seconds
    if total > _MAX_OFFSET_SECONDS:
        raise ParseFailure(f"offset beyond 18 hours: {text}")
    return sign * total


def _offset_parser(shape: str, zero: str) -> tuple[str, Converter]:
    def convert(text: str) -> list[tuple[str, object]]:
        return [("offset", 0 if text == zero else offset_seconds(text))]

    return f"(?:{regex.escape(zero)}|[+-]{_OFFSET_SHAPES[shape]})", convert


def _localized_offset(full: bool) -> tuple[str, Converter]:
    """`O`/`OOOO`/`ZZZZ`: GMT, GMT+8, GMT+08:00 (the full form needs two-digit hours)."""
    hours = f"{_DIGIT}{{2}}" if full else f"{_DIGIT}{{1,2}}"
    rest = f"(?:[+-]{hours}(?::{_DIGIT}{{2}}(?::{_DIGIT}{{2}})?)?)?"

    def convert(text: str) -> list[tuple[str, object]]:
        body = text[3:]
        if not body:
            return [("offset", 0)]
        head, _, tail = body[1:].partition(":")
        return [("offset", offset_seconds(body[0] + head.zfill(2) + (":" + tail if tail else "")))]

    return f"GMT{rest}", convert


_ID_OFFSET: Final = f"[+-]{_DIGIT}{{2}}(?::{_DIGIT}{{2}}(?::{_DIGIT}{{2}})?)?"


def _zone_parser(names: str | None) -> tuple[str, Converter]:
    """`VV` (names None), `z` (short names) or `zzzz` (long names): an offset, `UTC`/`GMT`/
    `UT` with or without an offset, a region id, a zone name, or `Z`."""
    listed = r"\L<region_ids>" + (rf"|\L<{names}>" if names else "")
    fragment = f"(?:{_ID_OFFSET}|(?:UTC|GMT|UT)(?:{_ID_OFFSET})?|{listed}|Z)"
    preferred = LONG_NAME_ZONES if names == "long_names" else SHORT_NAME_ZONES

    def convert(text: str) -> list[tuple[str, object]]:
        return [("zone", _zone_from_text(text, preferred))]

    return fragment, convert


def _zone_from_text(text: str, preferred: Mapping[str, str]) -> Zone:
    if text[0] in "+-":
        seconds = offset_seconds(text)
        return Zone(text, fixed_ms=seconds * 1000)
    for prefix in ("UTC", "GMT", "UT"):
        rest = text[len(prefix) :]
        if text.startswith(prefix) and (not rest or rest[0] in "+-"):
            return Zone(text, fixed_ms=offset_seconds(rest) * 1000 if rest else 0)
    if text == "Z":
        return UTC
    zone = region_zone(text if text in java_region_ids() else preferred.get(text, ""))
    if zone is None:
        raise ParseFailure(f"unknown zone {text}")
    return zone


@dataclass(frozen=True, slots=True)
class JavaPattern:
    """A compiled java.time pattern: a regular expression with one group per field."""

    expression: regex.Pattern[str]
    converters: tuple[tuple[str, Converter], ...]
    pads: tuple[tuple[str, int], ...]


class _JavaCompiler:
    """DateTimeFormatterBuilder.appendPattern (JDK 11), building a regular expression."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.sections: list[list[str]] = [[]]
        self.converters: list[tuple[str, Converter]] = []
        self.pads: list[tuple[str, int]] = []
        self.pad_next = 0

    def compile(self) -> JavaPattern:
        pattern = self.pattern
        pos = 0
        while pos < len(pattern):
            char = pattern[pos]
            if char in _LETTERS:
                end = pos
                while end < len(pattern) and pattern[end] == char:
                    end += 1
                if char == "p":
                    self._pad(end - pos, end)
                    pos = end
                    continue
                self._field(*_java_field(char, end - pos))
                pos = end
            elif char == "'":
                pos = self._quoted(pos)
            elif char == "[":
                self.sections.append([])
                pos += 1
            elif char == "]":
                if len(self.sections) == 1:
                    raise PatternError("] without a previous [")
                self._close_section()
                pos += 1
            elif char in "{}#":
                raise PatternError(f"reserved character {char!r}")
            else:
                self._literal(char)
                pos += 1
        while len(self.sections) > 1:  # java.time closes open optional sections at the end
            self._close_section()
        expression = regex.compile(
            "".join(self.sections[0]),
            region_ids=sorted(java_region_ids()),
            short_names=sorted(SHORT_NAME_ZONES),
            long_names=sorted(LONG_NAME_ZONES),
            ignore_unused=True,
        )
        return JavaPattern(expression, tuple(self.converters), tuple(self.pads))

    def _pad(self, width: int, end: int) -> None:
        """`p` repeated `width` times pads the next field, which must follow at once."""
        if end >= len(self.pattern) or self.pattern[end] not in _LETTERS:
            raise PatternError("pad letter p must be followed by a pattern letter")
        self.pad_next = width

    def _quoted(self, pos: int) -> int:
        pattern = self.pattern
        end = pos + 1
        while end < len(pattern):
            if pattern[end] == "'":
                if end + 1 < len(pattern) and pattern[end + 1] == "'":
                    end += 2
                    continue
                break
            end += 1
        if end >= len(pattern):
            raise PatternError("pattern ends with an incomplete string literal")
        text = pattern[pos + 1 : end]
        self._literal("'" if not text else text.replace("''", "'"))
        return end + 1

    def _close_section(self) -> None:
        inner = "".join(self.sections.pop())
        self.sections[-1].append(f"(?:{inner})?")

    def _literal(self, text: str) -> None:
        self.sections[-1].append(regex.escape(text))

    def _field(self, fragment: str, converter: Converter) -> None:
        name = f"g{len(self.converters)}"
        self.converters.append((name, converter))
        if self.pad_next:
            self.pads.append((name, self.pad_next))
            fragment = f" *{fragment}"
            self.pad_next = 0
        self.sections[-1].append(f"(?P<{name}>{fragment})")


def _numeric(name: str, count: int, maximum: int) -> tuple[str, Converter]:
    """1 letter: 1-19 digits (appendValue(field)); 2 up to `maximum`: exactly that many."""
    if count > maximum:
        raise PatternError(f"too many pattern letters for {name}")
    digits = f"{_DIGIT}{{1,19}}" if count == 1 else f"{_DIGIT}{{{count}}}"
    return digits, _int_field(name)


_SIMPLE_NUMBERS: Final = {
    "d": ("day_of_month", 2),
    "h": ("clock_hour_of_ampm", 2),
    "H": ("hour_of_day", 2),
    "k": ("clock_hour_of_day", 2),
    "K": ("hour_of_ampm", 2),
    "m": ("minute_of_hour", 2),
    "s": ("second_of_minute", 2),
    "F": ("aligned_day_of_week_in_month", 1),
    "A": ("milli_of_day", 19),
    "n": ("nano_of_second", 19),
    "N": ("nano_of_day", 19),
}


def _java_field(letter: str, count: int) -> tuple[str, Converter]:
    """The regular expression and converter of one run of a pattern letter (JDK 11 rules)."""
    if letter in _SIMPLE_NUMBERS:
        name, maximum = _SIMPLE_NUMBERS[letter]
        return _numeric(name, count, maximum)
    if letter in ("y", "u", "Y"):
        name = {"y": "year_of_era", "u": "year", "Y": "week_based_year"}[letter]
        if count == 2:
            return f"{_DIGIT}{{2}}", lambda text: [(name, 2000 + int(text))]
        if count > 19:
            raise PatternError("too many year letters")
        return _year_regex(count), _signed_year(name)
    if letter in ("M", "L"):
        return _text_or_number(count, "month_of_year", MONTHS)
    if letter in ("Q", "q"):
        if count == 3:
            return _texts({f"Q{q}": q for q in range(1, 5)}, "quarter_of_year")
        if count == 4:
            return _texts(_text_values(_QUARTERS_FULL), "quarter_of_year")
        if count == 5:
            return _texts({str(q): q for q in range(1, 5)}, "quarter_of_year")
        return _numeric("quarter_of_year", count, 2)
    if letter in ("E", "e", "c"):
        return _day_of_week(letter, count)
    if letter == "D":
        if count == 1:
            return f"{_DIGIT}{{1,19}}", _int_field("day_of_year")
        if count > 3:
            raise PatternError("too many pattern letters: D")
        return f"{_DIGIT}{{{count},3}}", _int_field("day_of_year")
    if letter == "G":
        if count > 5:
            raise PatternError("too many pattern letters: G")
        texts = {4: ("Before Christ", "Anno Domini"), 5: ("B", "A")}.get(count, ERAS)
        return _texts(_text_values(texts, 0), "era")
    if letter == "a":
        if count > 1:
            raise PatternError("too many pattern letters: a")
        return _texts(_text_values(HALFDAYS, 0), "ampm_of_day")
    if letter == "S":
        if count > 9:
            raise PatternError("fractions have at most 9 digits")
        return f"{_DIGIT}{{{count}}}", _fraction_field
    if letter == "w":
        if count > 2:
            raise PatternError("too many pattern letters: w")
        return f"{_DIGIT}{{{count},2}}", _int_field("week_of_week_based_year")
    if letter == "W":
        if count > 1:
            raise PatternError("too many pattern letters: W")
        return _DIGIT, _int_field("week_of_month")
    return _zone_field(letter, count)


def _text_or_number(count: int, name: str, texts: tuple[str, ...]) -> tuple[str, Converter]:
    if count == 3:
        return _texts(_text_values(tuple(t[:3] for t in texts)), name)
    if count == 4:
        return _texts(_text_values(texts), name)
    if count == 5:
        return _texts(_text_values(tuple(t[0] for t in texts)), name)
    return _numeric(name, count, 2)


def _day_of_week(letter: str, count: int) -> tuple[str, Converter]:
    """`E` is always text; `e` and `c` are the localized number (1 = Sunday in the US) for 1
    (and, for `e`, 2) letters, text from 3."""
    if count > 5 or (letter == "c" and count == 2):
        raise PatternError(f"invalid count of pattern letter {letter}")
    if letter != "E" and count <= 2:
        return f"{_DIGIT}{{{count}}}", _int_field("localized_day_of_week")
    if count <= 3:
        return _texts(_text_values(tuple(d[:3] for d in DAYS)), "day_of_week")
    if count == 4:
        return _texts(_text_values(DAYS), "day_of_week")
    return _texts(_text_values(tuple(d[0] for d in DAYS)), "day_of_week")


def _zone_field(letter: str, count: int) -> tuple[str, Converter]:
    if letter == "V":
        if count != 2:
            raise PatternError("pattern letter count must be 2: V")
        return _zone_parser(None)
    if letter == "v":
        if count not in (1, 4):
            raise PatternError("wrong number of pattern letters: v")
        return _zone_parser(None)
    if letter == "z":
        if count > 4:
            raise PatternError("too many pattern letters: z")
        return _zone_parser("long_names" if count == 4 else "short_names")
    if letter == "Z":
        if count <= 3:
            return _offset_parser("+HHMM", "+0000")
        if count == 4:
            return _localized_offset(full=True)
        if count == 5:
            return _offset_parser("+HH:MM:ss", "Z")
        raise PatternError("too many pattern letters: Z")
    if letter == "O":
        if count not in (1, 4):
            raise PatternError("pattern letter count must be 1 or 4: O")
        return _localized_offset(full=count == 4)
    if letter in ("X", "x"):
        if count > 5:
            raise PatternError(f"too many pattern letters: {letter}")
        if letter == "X":
            zero = "Z"
        else:
            zero = "+00" if count == 1 else ("+0000" if count % 2 == 0 else "+00:00")
        return _offset_parser(_X_PATTERNS[count - 1], zero)
    raise PatternError(f"unknown pattern letter: {letter}")


@functools.lru_cache(maxsize=256)
def java_pattern(pattern: str) -> JavaPattern | None:
    """A java.time DateTimeFormatter pattern compiled for parsing, or None when
    DateTimeFormatter.ofPattern would refuse it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return None
    try:
        return _JavaCompiler(pattern).compile()
    except (ValueError, regex.error):  # PatternError, or a pattern regex cannot compile
        return None


# ---- resolving parsed fields to an instant ----------------------------------------------------


def _put(fields: Fields, name: str, value: int) -> None:
    """Record a field; a second, different value for it is a conflict (java.time refuses)."""
    if fields.setdefault(name, value) != value:
        raise ParseFailure(f"conflicting values for {name}")


def _check(value: int, low: int, high: int, name: str) -> int:
    if not low <= value <= high:
        raise ParseFailure(f"{name} {value} outside {low}-{high}")
    return value


def _localized_dow(days: int) -> int:
    """The US day of week: 1 = Sunday ... 7 = Saturday."""
    return iso_day_of_week(days) % 7 + 1


def _start_of_week_offset(day: int, dow: int) -> int:
    """WeekFields.startOfWeekOffset for Sunday-first weeks with one minimal day."""
    week_start = (day - dow) % 7
    return 7 - week_start if week_start + 1 > 1 else -week_start


def _compute_week(offset: int, day: int) -> int:
    return (7 + offset + (day - 1)) // 7


def _us_week_fields(days: int) -> tuple[int, int, int]:
    """(week-based-year, week-of-week-based-year, week-of-month) of a date, US rules."""
    year, _, day = civil_from_days(days)
    dow = _localized_dow(days)
    doy = days - days_from_civil(year, 1, 1) + 1
    offset = _start_of_week_offset(doy, dow)
    week = _compute_week(offset, doy)
    year_length = 366 if is_leap(year) else 365
    new_year_week = _compute_week(offset, year_length + 1)
    if week == 0:
        based_year, based_week = _us_week_fields(days - doy)[:2]
    elif week >= new_year_week:
        based_year, based_week = year + 1, week - new_year_week + 1
    else:
        based_year, based_week = year, week
    week_of_month = _compute_week(_start_of_week_offset(day, dow), day)
    return based_year, based_week, week_of_month


def _date_fields(days: int) -> Fields:
    """Every date field a pattern can parse, for one date, to cross-check the parsed ones."""
    year, month, day = civil_from_days(days)
    based_year, based_week, week_of_month = _us_week_fields(days)
    return {
        "year": year,
        "year_of_era": year if year > 0 else 1 - year,
        "era": 1 if year > 0 else 0,
        "month_of_year": month,
        "day_of_month": day,
        "day_of_year": days - days_from_civil(year, 1, 1) + 1,
        "day_of_week": iso_day_of_week(days),
        "localized_day_of_week": _localized_dow(days),
        "quarter_of_year": (month - 1) // 3 + 1,
        "aligned_day_of_week_in_month": (day - 1) % 7 + 1,
        "week_based_year": based_year,
        "week_of_week_based_year": based_week,
        "week_of_month": week_of_month,
    }


_YEAR_LIMIT: Final = 999_999_999  # java.time's Year range


def _resolve_year(fields: Fields) -> int | None:
    year = fields.get("year")
    year_of_era = fields.get("year_of_era")
    if year_of_era is not None:
        _check(year_of_era, 1, _YEAR_LIMIT + 1, "year-of-era")
        era = fields.get("era", 1)
        _put(fields, "year", year_of_era if era == 1 else 1 - year_of_era)
        year = fields["year"]
    if year is not None:
        _check(year, -_YEAR_LIMIT, _YEAR_LIMIT, "year")
    return year


def _iso_dow(fields: Fields) -> int | None:
    localized = fields.get("localized_day_of_week")
    if localized is not None:
        _check(localized, 1, 7, "day-of-week")
        _put(fields, "day_of_week", localized - 1 or 7)
    dow = fields.get("day_of_week")
    return None if dow is None else _check(dow, 1, 7, "day-of-week")


def _date_candidates(fields: Fields) -> list[int]:
    """Every date (days since the epoch) a complete group of parsed fields gives."""
    found: list[int] = []
    year = _resolve_year(fields)
    dow = _iso_dow(fields)
    month = fields.get("month_of_year")
    if month is not None:
        _check(month, 1, 12, "month")
    if year is not None and month is not None:
        day = fields.get("day_of_month")
        if day is not None:
            # SMART resolution (IsoChronology.resolveYMD): a day of 1-31 past the month's end
            # is its last day, 2021-02-31 is 2021-02-28; the day field is then that day.
            day = min(_check(day, 1, 31, "day"), month_length(year, month))
            fields["day_of_month"] = day
            found.append(days_from_civil(year, month, day))
        week = fields.get("week_of_month")
        if week is not None and dow is not None:
            first = days_from_civil(year, month, 1)
            weeks = _check(week, 0, 6, "week-of-month") - _us_week_fields(first)[2]
            found.append(first + weeks * 7 + (dow % 7 + 1) - _localized_dow(first))
    if year is not None and "day_of_year" in fields:
        length = 366 if is_leap(year) else 365
        found.append(
            days_from_civil(year, 1, 1)
            + _check(fields["day_of_year"], 1, length, "day-of-year")
            - 1
        )
    based_year = fields.get("week_based_year")
    week = fields.get("week_of_week_based_year")
    if based_year is not None and week is not None and dow is not None:
        _check(based_year, -_YEAR_LIMIT, _YEAR_LIMIT, "week-based-year")
        found.append(_week_based_date(based_year, _check(week, 1, 53, "week"), dow % 7 + 1))
    return found


def _week_based_date(based_year: int, week: int, localized_dow: int) -> int:
    """WeekFields.ofWeekBasedYear for US weeks."""
    first = days_from_civil(based_year, 1, 1)
    offset = _start_of_week_offset(1, _localized_dow(first))
    year_length = 366 if is_leap(based_year) else 365
    week = min(week, _compute_week(offset, year_length + 1) - 1)
    return first - offset + (localized_dow - 1) + (week - 1) * 7


def resolve_date(fields: Fields) -> int:
    """The date the parsed fields name (days since the epoch), resolved as java.time's SMART
    resolver style does (the one `DateTimeFormatter.ofPattern` uses): a day-of-month past the
    month's end is its last day (2021-02-31 is 2021-02-28), a day-of-year past the year's end
    is a failure, and every other parsed date field must agree (a wrong day-of-week fails)."""
    candidates = _date_candidates(fields)
    if not candidates:
        raise ParseFailure("the text names no complete date")
    days = candidates[0]
    if any(other != days for other in candidates):
        raise ParseFailure("the date fields disagree")
    actual = _date_fields(days)
    for name, value in fields.items():
        if name in actual and actual[name] != value:
            raise ParseFailure(f"{name} {value} does not match the date")
    return days


def _split_day_time(fields: Fields, value: int, unit: int) -> None:
    """Milli-of-day or nano-of-day into hour, minute, second and sub-second fields."""
    seconds, sub = divmod(value, unit)
    _put(fields, "hour_of_day", seconds // 3600)
    _put(fields, "minute_of_hour", seconds // 60 % 60)
    _put(fields, "second_of_minute", seconds % 60)
    if unit == 1000:
        _put(fields, "milli_of_second", sub)
    else:
        _put(fields, "nano_of_second", sub)


def _resolve_hour(fields: Fields) -> None:
    """Clock hours, hours of am-pm and am-pm into hour-of-day, cross-checking them all."""
    # SMART resolution (Parsed.resolveTimeFields) lets a clock hour of 0 through as 0.
    if "clock_hour_of_day" in fields:
        clock = _check(fields["clock_hour_of_day"], 0, 24, "clock-hour-of-day")
        _put(fields, "hour_of_day", 0 if clock == 24 else clock)
    if "clock_hour_of_ampm" in fields:
        clock = _check(fields["clock_hour_of_ampm"], 0, 12, "clock-hour-of-am-pm")
        _put(fields, "hour_of_ampm", 0 if clock == 12 else clock)
    ampm = fields.get("ampm_of_day")
    hour_of_ampm = fields.get("hour_of_ampm")
    if hour_of_ampm is not None:
        _check(hour_of_ampm, 0, 11, "hour-of-am-pm")
        if ampm is not None:
            _put(fields, "hour_of_day", ampm * 12 + hour_of_ampm)
    hour = fields.get("hour_of_day")
    if hour is not None:
        _check(hour, 0, 23, "hour-of-day")
        if ampm is not None and hour // 12 != ampm:
            raise ParseFailure("am-pm does not match the hour")
        if hour_of_ampm is not None and hour % 12 != hour_of_ampm:
            raise ParseFailure("hour-of-am-pm does not match the hour")


def resolve_time(fields: Fields) -> int:
    """Nanoseconds of the day the parsed time fields name; midnight when there are none."""
    if "milli_of_day" in fields:
        value = _check(fields["milli_of_day"], 0, MILLIS_PER_DAY - 1, "milli-of-day")
        _split_day_time(fields, value, 1000)
    if "nano_of_day" in fields:
        value = _check(
            fields["nano_of_day"], 0, SECONDS_PER_DAY * NANOS_PER_SECOND - 1, "nano-of-day"
        )
        _split_day_time(fields, value, NANOS_PER_SECOND)
    if "milli_of_second" in fields:
        millis = fields["milli_of_second"]
        nanos = fields.get("nano_of_second")
        if nanos is not None and nanos // 1_000_000 != millis:
            raise ParseFailure("milli-of-second does not match nano-of-second")
        fields.setdefault("nano_of_second", millis * 1_000_000)
    if (
        fields.get("hour_of_day") == 24
        and not fields.keys() & {"clock_hour_of_day", "ampm_of_day", "hour_of_ampm"}
        and fields.get("minute_of_hour", 0) == fields.get("second_of_minute", 0) == 0
        and fields.get("nano_of_second", 0) == 0
    ):
        # SMART resolution (Parsed.resolveTime): 24:00 is the end of the day, the next
        # day's midnight.
        return SECONDS_PER_DAY * NANOS_PER_SECOND
    _resolve_hour(fields)
    hour = fields.get("hour_of_day")
    minute = fields.get("minute_of_hour")
    second = fields.get("second_of_minute")
    nanos = fields.get("nano_of_second")
    if hour is None:
        if any(k in fields for k in ("minute_of_hour", "second_of_minute", "nano_of_second",
                                     "hour_of_ampm", "ampm_of_day")):  # fmt: skip
            raise ParseFailure("a time without its hour")
        return 0
    if (minute is None and (second is not None or nanos is not None)) or (
        minute is not None and second is None and nanos is not None
    ):
        raise ParseFailure("an incomplete time")
    total = hour * 3600 + _check(minute or 0, 0, 59, "minute") * 60
    total += _check(second or 0, 0, 59, "second")
    return total * NANOS_PER_SECOND + _check(nanos or 0, 0, NANOS_PER_SECOND - 1, "nanosecond")


def _collect(
    pattern: JavaPattern, match: regex.Match[str]
) -> tuple[Fields, Zone | None, int | None]:
    fields: Fields = {}
    zone: Zone | None = None
    offset: int | None = None
    for name, width in pattern.pads:
        text = match.group(name)
        if text is not None and len(text) != width:
            raise ParseFailure("a padded field has the wrong width")
    for name, converter in pattern.converters:
        text = match.group(name)
        if text is None:
            continue  # an optional section that was absent
        for field, value in converter(text.lstrip(" ")):
            if isinstance(value, Zone):
                if zone is not None and zone != value:
                    raise ParseFailure("two different zones")
                zone = value
            elif field == "offset":
                assert isinstance(value, int)
                if offset is not None and offset != value:
                    raise ParseFailure("two different offsets")
                offset = value
            else:
                assert isinstance(value, int)
                _put(fields, field, value)
    return fields, zone, offset


def parse_epoch_millis(text: str, pattern: str) -> int | None:
    """`text` parsed with a java.time pattern, as milliseconds since the epoch: UTC when the
    text has no zone, midnight when it has no time. None when the pattern is invalid, the text
    does not match it, or its fields do not make a valid date."""
    compiled = java_pattern(pattern)
    if compiled is None or len(text) > MAX_PATTERN_LENGTH:
        return None
    try:
        match = compiled.expression.fullmatch(
            text, timeout=time_left(current_limits().regex_timeout)
        )
    except TimeoutError:
        check_time()  # the evaluation's budget spent: the rule fails, else only this call
        return None
    if match is None:
        return None
    try:
        fields, zone, offset = _collect(compiled, match)
        days = resolve_date(fields)
        nanos = resolve_time(fields)
    except ParseFailure:
        return None
    local_seconds = days * SECONDS_PER_DAY + nanos // NANOS_PER_SECOND
    if offset is None:
        offset = (zone or UTC).offset_of_local(local_seconds)
    millis = (local_seconds - offset) * 1000 + nanos % NANOS_PER_SECOND // 1_000_000
    return millis if LONG_MIN <= millis <= LONG_MAX else None
