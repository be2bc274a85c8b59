//! Built-in name, place and course lists: small, diverse, and deliberately full of the
//! characters real rosters carry (accents, Vietnamese diacritics, apostrophes, hyphens).
//!
//! No name contains whitespace: Clever puts a contact's full name in one field and readers
//! split it at the last space, so a space inside a last name could not round-trip.

/// A naming origin: first and last names, and how likely each home language is.
pub(crate) struct Origin {
    pub weight: u32,
    pub first: &'static [&'static str],
    pub last: &'static [&'static str],
    /// `(language, weight)`; the first entry is the most likely.
    pub languages: &'static [(&'static str, u32)],
}

pub(crate) const ORIGINS: &[Origin] = &[
    Origin {
        weight: 38,
        first: &[
            "Emma",
            "Olivia",
            "Liam",
            "Noah",
            "Ava",
            "Mason",
            "Ethan",
            "Harper",
            "James",
            "Charlotte",
            "Benjamin",
            "Amelia",
            "Lucas",
            "Evelyn",
            "Henry",
            "Abigail",
            "Jack",
            "Emily",
            "Owen",
            "Grace",
            "Mary-Kate",
            "Wyatt",
            "Hazel",
            "Caleb",
        ],
        last: &[
            "Smith",
            "Johnson",
            "Williams",
            "Brown",
            "Jones",
            "Miller",
            "Davis",
            "Wilson",
            "Anderson",
            "Taylor",
            "Thomas",
            "Moore",
            "Martin",
            "Thompson",
            "White",
            "Harris",
            "Clark",
            "Lewis",
            "Walker",
            "Hall",
            "Young",
            "Allen",
            "Smith-Jones",
            "Baker",
        ],
        languages: &[("English", 100)],
    },
    Origin {
        weight: 22,
        first: &[
            "José",
            "María",
            "Sofía",
            "Mateo",
            "Valentina",
            "Santiago",
            "Camila",
            "Diego",
            "Lucía",
            "Alejandro",
            "Ximena",
            "Ángel",
            "Jesús",
            "Guadalupe",
            "Andrés",
            "Inés",
            "Joaquín",
            "Renée",
        ],
        last: &[
            "García",
            "Rodríguez",
            "Martínez",
            "Hernández",
            "López",
            "González",
            "Pérez",
            "Sánchez",
            "Ramírez",
            "Torres",
            "Flores",
            "Rivera",
            "Gómez",
            "Díaz",
            "Cruz",
            "Morales",
            "Reyes",
            "García-López",
            "Peña",
            "Muñoz",
            "Ibáñez",
        ],
        languages: &[("English", 45), ("Spanish", 55)],
    },
    Origin {
        weight: 12,
        first: &[
            "DeShawn", "Imani", "Jamal", "Aaliyah", "Malik", "Zuri", "Jaylen", "Nia", "Kendrick",
            "Amara", "Destiny", "Tyrone",
        ],
        last: &[
            "Washington",
            "Jackson",
            "Robinson",
            "Coleman",
            "Brooks",
            "Bell",
            "Freeman",
            "Jenkins",
            "Mitchell",
            "Carter",
        ],
        languages: &[("English", 100)],
    },
    Origin {
        weight: 4,
        first: &[
            "Siobhán", "Aoife", "Seán", "Niamh", "Ciarán", "Róisín", "Declan", "Sinéad",
        ],
        last: &[
            "O'Brien",
            "O'Connor",
            "Murphy",
            "Kelly",
            "McCarthy",
            "O'Sullivan",
            "Byrne",
            "D'Angelo",
        ],
        languages: &[("English", 100)],
    },
    Origin {
        weight: 5,
        first: &[
            "Minh", "Anh", "Linh", "Huy", "Thảo", "Quang", "Trâm", "Bảo", "Ngọc", "Phương", "Tuấn",
        ],
        last: &[
            "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi",
        ],
        languages: &[("English", 40), ("Vietnamese", 60)],
    },
    Origin {
        weight: 5,
        first: &[
            "Søren",
            "Zoë",
            "Björn",
            "Åsa",
            "Jürgen",
            "Noémie",
            "Chloë",
            "Mikael",
            "Ingrid",
            "Anaïs",
            "François",
            "Łucja",
        ],
        last: &[
            "Sørensen",
            "Müller",
            "Öztürk",
            "Ljungström",
            "Dubois",
            "Schröder",
            "Kowalski",
            "Nowak",
            "Łukasiewicz",
            "Brontë",
            "Østergaard",
        ],
        languages: &[
            ("English", 70),
            ("German", 8),
            ("Polish", 8),
            ("French", 7),
            ("Turkish", 7),
        ],
    },
    Origin {
        weight: 4,
        first: &[
            "Wei", "Jing", "Hao", "Yu", "Mei", "Xin", "Jun", "Lin", "Yan", "Zhi",
        ],
        last: &[
            "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
        ],
        languages: &[("English", 50), ("Chinese", 50)],
    },
    Origin {
        weight: 4,
        first: &[
            "Omar", "Fatima", "Aisha", "Yusuf", "Layla", "Amina", "Ahmed", "Hodan", "Abdi",
            "Mariam",
        ],
        last: &[
            "Hassan",
            "Ali",
            "Mohamed",
            "Abdullahi",
            "Haddad",
            "Al-Sayed",
            "Farah",
            "Warsame",
            "Khalil",
        ],
        languages: &[("English", 40), ("Arabic", 35), ("Somali", 25)],
    },
    Origin {
        weight: 6,
        first: &[
            "Aarav", "Priya", "Arjun", "Ananya", "Rohan", "Diya", "Vikram", "Saanvi", "Rizal",
            "Maricel",
        ],
        last: &[
            "Patel",
            "Shah",
            "Singh",
            "Kumar",
            "Reddy",
            "Iyer",
            "Gupta",
            "Santos",
            "Dela-Cruz",
            "Bautista",
        ],
        languages: &[
            ("English", 65),
            ("Hindi", 10),
            ("Gujarati", 10),
            ("Tagalog", 15),
        ],
    },
];

pub(crate) const PLACES: &[&str] = &[
    "Lincoln",
    "Washington",
    "Jefferson",
    "Roosevelt",
    "César Chávez",
    "Maple Grove",
    "Riverside",
    "Oak Hill",
    "Cedar Park",
    "Lakeview",
    "Sunnyside",
    "Hillcrest",
    "Pine Ridge",
    "Willow Creek",
    "Mountain View",
    "Harriet Tubman",
    "Sojourner Truth",
    "Franklin",
    "Kennedy",
    "Madison",
    "Eastwood",
    "Westbrook",
    "Northgate",
    "Southside",
    "Fairview",
    "Brookside",
    "Greenfield",
    "Valley View",
    "Highland",
    "Meadowbrook",
    "Ellen Ochoa",
    "Sally Ride",
    "Thurgood Marshall",
    "Rosa Parks",
    "Dolores Huerta",
    "Garfield",
    "Hamilton",
    "Jackson",
    "Irving",
    "Longfellow",
    "Whittier",
    "Emerson",
    "Thoreau",
    "Edison",
    "Einstein",
    "Crestwood",
    "Parkside",
    "Bayview",
    "Silver Lake",
    "Aspen",
    "Sequoia",
    "Redwood",
    "Juniper",
    "Magnolia",
    "Sycamore",
    "Cottonwood",
    "Orchard",
    "Prairie",
    "Canyon",
    "Stonebridge",
];

pub(crate) const DISTRICTS: &[&str] = &[
    "Maple Valley",
    "Riverbend",
    "Cedar Falls",
    "Lakeshore",
    "Granite Peak",
    "Sunset Hills",
    "Bluewater",
    "Pine County",
    "Harbor City",
    "Clearwater",
];

/// Lower-case ASCII for email addresses and usernames: accents are folded, apostrophes,
/// hyphens and anything else non-alphanumeric are dropped.
pub(crate) fn ascii_slug(name: &str, out: &mut String) {
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            continue;
        }
        let folded = match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ă' | 'ạ' | 'ả' | 'ấ' | 'ầ' | 'ẩ' | 'ậ' | 'ặ'
            | 'ắ' | 'ằ' => "a",
            'é' | 'è' | 'ê' | 'ë' | 'ễ' | 'ế' | 'ệ' | 'ể' | 'ề' => "e",
            'í' | 'ì' | 'î' | 'ï' | 'ı' | 'ị' => "i",
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ơ' | 'ọ' | 'ố' | 'ồ' | 'ổ' | 'ộ' => {
                "o"
            }
            'ú' | 'ù' | 'û' | 'ü' | 'ư' | 'ụ' | 'ủ' => "u",
            'ñ' => "n",
            'ç' => "c",
            'đ' => "d",
            'ł' => "l",
            'ß' => "ss",
            'æ' => "ae",
            'ş' => "s",
            'ğ' => "g",
            'ỳ' | 'ý' => "y",
            _ => "",
        };
        out.push_str(folded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ascii_and_names_have_no_spaces() {
        for o in ORIGINS {
            for n in o.first.iter().chain(o.last) {
                assert!(!n.contains(char::is_whitespace), "{n}");
                let mut s = String::new();
                ascii_slug(n, &mut s);
                assert!(!s.is_empty() && s.is_ascii(), "{n} -> {s}");
            }
        }
        let mut s = String::new();
        ascii_slug("Nguyễn O'Brien-Søren", &mut s);
        assert_eq!(s, "nguyenobriensoren");
    }
}
