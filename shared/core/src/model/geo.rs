//! Where a customer is, when they never told us their time zone: the zone of
//! their country (or, for countries that span several, their province or
//! state), and the calling code used to read national phone numbers.

/// IANA zone for an ISO 3166-1 alpha-2 country, refined by province / state
/// code (ISO 3166-2 subdivision without the country prefix) where the country
/// spans several zones. Multi-zone countries without a province get the zone
/// where most of their people live.
pub fn zone_for(country: &str, province: Option<&str>) -> Option<&'static str> {
    let c = country.trim().to_ascii_uppercase();
    let p = province.map(|p| {
        let p = p.trim().to_ascii_uppercase();
        p.rsplit('-').next().unwrap_or("").to_string()
    });
    if let Some(p) = p.as_deref() {
        if let Some(z) = subdivision_zone(&c, p) {
            return Some(z);
        }
    }
    COUNTRY_ZONES
        .iter()
        .find(|(cc, _)| *cc == c)
        .map(|(_, z)| *z)
}

fn subdivision_zone(country: &str, p: &str) -> Option<&'static str> {
    let z = match country {
        "US" => match p {
            "CT" | "DE" | "DC" | "FL" | "GA" | "ME" | "MD" | "MA" | "MI" | "NH" | "NJ" | "NY"
            | "NC" | "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV" => "America/New_York",
            "IN" => "America/Indiana/Indianapolis",
            "KY" | "TN" | "AL" | "AR" | "IL" | "IA" | "LA" | "MN" | "MS" | "MO" | "OK" | "WI"
            | "TX" | "KS" | "NE" | "SD" | "ND" => "America/Chicago",
            "CO" | "MT" | "NM" | "UT" | "WY" | "ID" => "America/Denver",
            "AZ" => "America/Phoenix",
            "CA" | "NV" | "OR" | "WA" => "America/Los_Angeles",
            "AK" => "America/Anchorage",
            "HI" => "Pacific/Honolulu",
            "PR" => "America/Puerto_Rico",
            _ => return None,
        },
        "CA" => match p {
            "NL" => "America/St_Johns",
            "NS" | "NB" | "PE" => "America/Halifax",
            "QC" | "ON" | "NU" => "America/Toronto",
            "MB" => "America/Winnipeg",
            "SK" => "America/Regina",
            "AB" | "NT" => "America/Edmonton",
            "BC" => "America/Vancouver",
            "YT" => "America/Whitehorse",
            _ => return None,
        },
        "AU" => match p {
            "NSW" | "ACT" => "Australia/Sydney",
            "VIC" => "Australia/Melbourne",
            "QLD" => "Australia/Brisbane",
            "SA" => "Australia/Adelaide",
            "WA" => "Australia/Perth",
            "TAS" => "Australia/Hobart",
            "NT" => "Australia/Darwin",
            _ => return None,
        },
        "BR" => match p {
            "AM" | "RR" | "RO" | "MT" | "MS" => "America/Manaus",
            "AC" => "America/Rio_Branco",
            _ => "America/Sao_Paulo",
        },
        "MX" => match p {
            "BC" => "America/Tijuana",
            "SON" => "America/Hermosillo",
            "CHH" | "SIN" | "NAY" | "BCS" => "America/Mazatlan",
            "ROO" => "America/Cancun",
            _ => "America/Mexico_City",
        },
        "ES" => match p {
            "CN" | "GC" | "TF" => "Atlantic/Canary",
            _ => "Europe/Madrid",
        },
        "PT" => match p {
            "20" => "Atlantic/Azores",
            _ => "Europe/Lisbon",
        },
        "ID" => match p {
            "BA" | "NB" | "NT" | "KS" | "KT" | "KU" | "SN" | "SG" | "ST" | "SR" | "GO" | "SA" => {
                "Asia/Makassar"
            }
            "PA" | "PB" | "MA" | "MU" => "Asia/Jayapura",
            _ => "Asia/Jakarta",
        },
        _ => return None,
    };
    Some(z)
}

const COUNTRY_ZONES: &[(&str, &str)] = &[
    ("US", "America/New_York"),
    ("CA", "America/Toronto"),
    ("MX", "America/Mexico_City"),
    ("BR", "America/Sao_Paulo"),
    ("AR", "America/Argentina/Buenos_Aires"),
    ("CL", "America/Santiago"),
    ("CO", "America/Bogota"),
    ("PE", "America/Lima"),
    ("GB", "Europe/London"),
    ("IE", "Europe/Dublin"),
    ("FR", "Europe/Paris"),
    ("DE", "Europe/Berlin"),
    ("ES", "Europe/Madrid"),
    ("PT", "Europe/Lisbon"),
    ("IT", "Europe/Rome"),
    ("NL", "Europe/Amsterdam"),
    ("BE", "Europe/Brussels"),
    ("LU", "Europe/Luxembourg"),
    ("CH", "Europe/Zurich"),
    ("AT", "Europe/Vienna"),
    ("DK", "Europe/Copenhagen"),
    ("SE", "Europe/Stockholm"),
    ("NO", "Europe/Oslo"),
    ("FI", "Europe/Helsinki"),
    ("IS", "Atlantic/Reykjavik"),
    ("PL", "Europe/Warsaw"),
    ("CZ", "Europe/Prague"),
    ("SK", "Europe/Bratislava"),
    ("HU", "Europe/Budapest"),
    ("RO", "Europe/Bucharest"),
    ("BG", "Europe/Sofia"),
    ("GR", "Europe/Athens"),
    ("HR", "Europe/Zagreb"),
    ("SI", "Europe/Ljubljana"),
    ("EE", "Europe/Tallinn"),
    ("LV", "Europe/Riga"),
    ("LT", "Europe/Vilnius"),
    ("UA", "Europe/Kyiv"),
    ("TR", "Europe/Istanbul"),
    ("RU", "Europe/Moscow"),
    ("IL", "Asia/Jerusalem"),
    ("AE", "Asia/Dubai"),
    ("SA", "Asia/Riyadh"),
    ("QA", "Asia/Qatar"),
    ("EG", "Africa/Cairo"),
    ("ZA", "Africa/Johannesburg"),
    ("NG", "Africa/Lagos"),
    ("KE", "Africa/Nairobi"),
    ("MA", "Africa/Casablanca"),
    ("IN", "Asia/Kolkata"),
    ("PK", "Asia/Karachi"),
    ("BD", "Asia/Dhaka"),
    ("CN", "Asia/Shanghai"),
    ("HK", "Asia/Hong_Kong"),
    ("TW", "Asia/Taipei"),
    ("JP", "Asia/Tokyo"),
    ("KR", "Asia/Seoul"),
    ("SG", "Asia/Singapore"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("TH", "Asia/Bangkok"),
    ("VN", "Asia/Ho_Chi_Minh"),
    ("PH", "Asia/Manila"),
    ("ID", "Asia/Jakarta"),
    ("AU", "Australia/Sydney"),
    ("NZ", "Pacific/Auckland"),
];

const CALLING_CODES: &[(&str, &str)] = &[
    ("US", "1"),
    ("CA", "1"),
    ("PR", "1"),
    ("MX", "52"),
    ("BR", "55"),
    ("AR", "54"),
    ("CL", "56"),
    ("CO", "57"),
    ("PE", "51"),
    ("GB", "44"),
    ("IE", "353"),
    ("FR", "33"),
    ("DE", "49"),
    ("ES", "34"),
    ("PT", "351"),
    ("IT", "39"),
    ("NL", "31"),
    ("BE", "32"),
    ("LU", "352"),
    ("CH", "41"),
    ("AT", "43"),
    ("DK", "45"),
    ("SE", "46"),
    ("NO", "47"),
    ("FI", "358"),
    ("IS", "354"),
    ("PL", "48"),
    ("CZ", "420"),
    ("SK", "421"),
    ("HU", "36"),
    ("RO", "40"),
    ("BG", "359"),
    ("GR", "30"),
    ("HR", "385"),
    ("SI", "386"),
    ("EE", "372"),
    ("LV", "371"),
    ("LT", "370"),
    ("UA", "380"),
    ("TR", "90"),
    ("RU", "7"),
    ("IL", "972"),
    ("AE", "971"),
    ("SA", "966"),
    ("QA", "974"),
    ("EG", "20"),
    ("ZA", "27"),
    ("NG", "234"),
    ("KE", "254"),
    ("MA", "212"),
    ("IN", "91"),
    ("PK", "92"),
    ("BD", "880"),
    ("CN", "86"),
    ("HK", "852"),
    ("TW", "886"),
    ("JP", "81"),
    ("KR", "82"),
    ("SG", "65"),
    ("MY", "60"),
    ("TH", "66"),
    ("VN", "84"),
    ("PH", "63"),
    ("ID", "62"),
    ("AU", "61"),
    ("NZ", "64"),
];

/// The international calling code of a country (`"44"` for `GB`).
pub fn calling_code(country: &str) -> Option<&'static str> {
    let c = country.trim().to_ascii_uppercase();
    CALLING_CODES
        .iter()
        .find(|(cc, _)| *cc == c)
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_zone_exists_in_the_tz_database() {
        for (_, z) in COUNTRY_ZONES {
            jiff::tz::TimeZone::get(z).unwrap_or_else(|e| panic!("{z}: {e}"));
        }
        for (c, p) in [
            ("US", "AZ"),
            ("CA", "NL"),
            ("AU", "WA"),
            ("MX", "ROO"),
            ("ID", "PA"),
            ("US", "IN"),
        ] {
            let z = zone_for(c, Some(p)).unwrap();
            jiff::tz::TimeZone::get(z).unwrap_or_else(|e| panic!("{z}: {e}"));
        }
    }

    #[test]
    fn province_refines_country() {
        assert_eq!(zone_for("us", Some("US-CA")), Some("America/Los_Angeles"));
        assert_eq!(zone_for("US", None), Some("America/New_York"));
        assert_eq!(zone_for("FR", Some("75")), Some("Europe/Paris"));
        assert_eq!(zone_for("XX", None), None);
    }
}
