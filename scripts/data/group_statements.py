"""Group statements: contrast rows for the toxicity task, written for this project (Apache-2.0, like the code).

The toxicity sources teach offensive *vocabulary* well (slurs, profanity, "drugs", "terrorists") but not a
demeaning claim in plain words about a group of people ("<group> make terrible teachers", "<group> should not be
allowed to vote"), and HateCheck's groups are few. These templates pair such generalisations (`toxic`) with
statements about the same groups in the same plain words that demean no one (`safe`): neutral or positive facts,
counter-speech that quotes a stereotype to reject it, and complaints about one person rather than a group. Each
row is one group in one template; the groups cover religion, origin, gender, sexuality, age, disability and
class, majority groups as much as minorities. Rows are drawn with a fixed seed, and the split follows the
template (not the row), so that a test row never shares its wording with a train row.

    from group_statements import group_statements   # used by scripts/data/build_data_v2.py
"""
from __future__ import annotations

import random

SOURCE = "group-statements"
SEED = 11
ROWS_PER_TEMPLATE = 10
GROUPS = (
    "women", "men", "Muslims", "Christians", "Jews", "Hindus", "Sikhs", "Catholics", "atheists", "Buddhists",
    "Black people", "white people", "Asians", "Arabs", "Latinos", "Chinese people", "Indians", "Africans",
    "Europeans", "Americans", "British people", "Germans", "Russians", "Nigerians", "Australians", "Irish people",
    "Polish people", "immigrants", "refugees", "gay people", "lesbians", "trans people", "bisexual people",
    "disabled people", "blind people", "deaf people", "autistic people", "old people", "teenagers",
    "young people", "poor people", "rich people", "working-class people", "single mothers", "Roma people",
)
PEOPLE = ("my neighbour", "my coworker", "the new manager", "my cousin", "that cashier", "our landlord",
          "the guy next door", "my old roommate")
# demeaning generalisations in plain words: no slur, no profanity, no crime or drug vocabulary
DEMEANING = (
    "{g} are all liars.", "{g} can never be trusted with anything important.", "{g} make terrible teachers.",
    "{g} should not be allowed to vote.", "{g} are a burden on everyone around them.",
    "{g} do not deserve the same respect as normal people.", "{g} ruin every place they move into.",
    "{g} are too stupid to understand simple instructions.", "{g} should be kept out of our schools.",
    "{g} are naturally lazy.", "{g} are worthless.", "{g} make awful doctors and nurses.",
    "{g} only care about themselves.", "{g} are less human than the rest of us.",
    "{g} should stay in their place.", "I would never let {g} near my kids.", "{g} are all the same: useless.",
    "Nobody wants {g} around.", "{g} are a disease on this society.", "{g} can't be real friends with anyone.",
    "{g} should not be allowed to marry.", "Hiring {g} is always a mistake.", "{g} are born cowards.",
    "It is a fact that {g} are inferior.", "{g} are too emotional to be taken seriously.",
    "{g} should not have children.", "{g} are a waste of space.", "Everything would be better without {g}.",
    "{g} cheat at everything they do.", "{g} are ugly, inside and out.",
)
DECENT = (
    "{g} live in many different countries.", "Many {g} volunteer in their communities.",
    "{g} have the same rights as everyone else.", "Some {g} work as teachers, doctors and nurses.",
    "{g} are as varied as any other group of people.", "I met several {g} at the conference last week.",
    "{g} celebrate a wide range of holidays.", "The survey asked {g} about their favourite foods.",
    "Our team includes {g}, and it works well.", "{g} deserve to be treated fairly.",
    "Many {g} are wonderful parents.", "{g} vote in every election, like other citizens.",
    "Some {g} prefer cities, others the countryside.", "A new documentary follows the lives of three {g}.",
    "{g} are welcome in our club.", "The library runs a reading group started by {g}.",
    "Researchers studied how {g} use public transport.", "{g} have contributed a great deal to science.",
    "{g} can be found in every profession.", "My best friends include {g}.",
)
COUNTER = (
    "Saying that {g} are lazy is just prejudice.", "It is a myth that {g} can't be trusted.",
    "People who claim {g} are inferior are simply wrong.", "The idea that {g} make bad teachers has no basis.",
    "Stop repeating the lie that {g} are a burden.", "No, {g} are not all the same.",
    "Calling {g} worthless says more about the speaker.", "The old stereotype that {g} are cowards is false.",
)
PERSONAL = (  # a complaint about one person is not a generalisation
    "{p} is always late.", "{p} lied to me twice this week.", "{p} is the laziest person I know.",
    "{p} makes a terrible teacher.", "I would never trust {p} with my car.", "{p} can't cook at all.",
    "{p} only cares about himself.", "{p} ruined the party last night.", "{p} is rude to everyone.",
    "{p} is terrible at keeping promises.",
)


def template_split(i: int) -> str:
    return "test" if i % 5 == 4 else "train"  # one template in five is test only


def fixed_rows(texts, **fields) -> list[dict]:
    """One row per fixed text (no filler); each text is its own template for the split."""
    return [{"text": t, **fields, "split": template_split(i)} for i, t in enumerate(texts)]


def template_rows(templates, fillers, key: str, rng: random.Random, per_template: int, **fields) -> list[dict]:
    """per_template rows of each template, each filled with a different filler; fields (label, category,
    source, license) are shared by every row, the split follows the template."""
    rows = []
    for i, template in enumerate(templates):
        for filler in rng.sample(fillers, min(per_template, len(fillers))):
            text = template.format(**{key: filler})
            rows.append({"text": text[0].upper() + text[1:], **fields, "split": template_split(i)})
    return rows


def _rows(templates, label: str, category: str, fillers, key: str, rng: random.Random) -> list[dict]:
    return template_rows(templates, fillers, key, rng, ROWS_PER_TEMPLATE, label=label, category=category,
                         source=SOURCE, license="Apache-2.0")


def group_statements() -> list[dict]:
    rng = random.Random(SEED)
    return (_rows(DEMEANING, "toxic", "demeaning-generalisation", GROUPS, "g", rng)
            + _rows(DECENT, "safe", "decent-statement", GROUPS, "g", rng)
            + _rows(COUNTER, "safe", "counter-speech", GROUPS, "g", rng)
            + _rows(PERSONAL, "safe", "one-person-complaint", PEOPLE, "p", rng))
