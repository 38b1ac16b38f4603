"""The fixture workspace (the `files` tool's directory) and RAG corpus (ingested into the collection
`llmdeck-tasks`), generated with their lookup questions: each value is drawn once, written into a file, and the
question about it carries that value as its answer. Values a reverse lookup asks about (rooms, phone numbers,
prices, team sizes) are unique, so every question has one right answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmdeck.agents.task_gen import Draft, Family, family_rng

FRUITS = "apples pears plums cherries lemons mangos peaches kiwis limes figs grapes melons".split()
PEOPLE = "Alice Bruno Chen Dana Emil Farah Goran Hana Ivo Jule Kofi Lena Marco Nora".split()
ITEMS = "stapler notebook pencil lamp mug backpack scissors ruler eraser folder marker calendar".split()
PROJECTS = (
    "Zorblat Quillon Marrow Tessel Vantor Brisk Orrin Pellam Sundry Talvo Ferrix Gantry Halvek Ispin Jorvath Kelmet"
).split()
CODENAMES = (
    "BLUE-HERON RED-FALCON GREEN-OTTER GOLD-LYNX GREY-WHALE PINK-CRANE TEAL-MOTH JADE-VIPER RUST-BADGER"
    " IVORY-STORK AMBER-WASP CORAL-SEAL SLATE-HARE PLUM-EAGLE MINT-GECKO ONYX-BISON"
).split()
LEADS = [
    "Mira Okafor",
    "Tomas Lindqvist",
    "Priya Raman",
    "Jonas Weber",
    "Lucia Ferreira",
    "Kenji Sato",
    "Nadia Haddad",
    "Oscar Novak",
    "Ruth Abebe",
    "Sven Dahl",
    "Yara Costa",
    "Pavel Horak",
    "Ines Moreau",
    "Arjun Mehta",
    "Greta Olsen",
    "Samir Aziz",
]
CITIES = "Lisbon Oslo Nairobi Lima Osaka Tallinn Quito Dakar Hobart Bergen Cusco Turku Porto Accra Bilbao Perth".split()


@dataclass(frozen=True)
class Fixtures:
    workspace: dict[str, str]  # file name -> text
    corpus: dict[str, str]  # file name -> markdown
    families: list[Family]


def build(seed: int) -> Fixtures:
    rng = family_rng(seed, "fixtures")
    counts = {fruit: rng.randint(3, 95) for fruit in FRUITS}
    phones = dict(zip(PEOPLE, (f"555-{n}" for n in rng.sample(range(1000, 10000), len(PEOPLE)))))
    rooms = dict(zip(PEOPLE, (str(n) for n in rng.sample(range(101, 500), len(PEOPLE)))))
    prices = dict(zip(ITEMS, rng.sample(range(2, 61), len(ITEMS))))
    workspace = {
        "inventory.txt": "".join(f"{fruit}: {n}\n" for fruit, n in counts.items()),
        "contacts.txt": "".join(f"{person}: {phone}\n" for person, phone in phones.items()),
        "offices.txt": "".join(f"{person} sits in room {room}\n" for person, room in rooms.items()),
        "prices.csv": "item,price\n" + "".join(f"{item},{price}\n" for item, price in prices.items()),
    }

    def read(path: str) -> dict:
        return {"operation": "read", "path": path}

    def files(family_rng: random.Random) -> list[Draft]:
        drafts = [
            Draft(f"How many {fruit} are listed in inventory.txt?", 2, (str(n),), "files", read("inventory.txt"))
            for fruit, n in counts.items()
        ]
        for person, phone in phones.items():
            drafts.append(
                Draft(f"What is {person}'s phone number in contacts.txt?", 2, (phone,), "files", read("contacts.txt"))
            )
            drafts.append(
                Draft(
                    f"Which room does {person} sit in, according to offices.txt?",
                    2,
                    (rooms[person],),
                    "files",
                    read("offices.txt"),
                )
            )
        for person in family_rng.sample(PEOPLE, len(PEOPLE) // 2):
            drafts.append(
                Draft(
                    f"Whose phone number is {phones[person]}, according to contacts.txt?",
                    3,
                    (person,),
                    "files",
                    read("contacts.txt"),
                )
            )
            drafts.append(
                Draft(
                    f"Who sits in room {rooms[person]}, according to offices.txt?",
                    3,
                    (person,),
                    "files",
                    read("offices.txt"),
                )
            )
        for item, price in prices.items():
            drafts.append(
                Draft(f"What is the price of a {item} in prices.csv?", 2, (str(price),), "files", read("prices.csv"))
            )
        for item in family_rng.sample(ITEMS, len(ITEMS) // 2):
            drafts.append(
                Draft(f"Which item costs {prices[item]} in prices.csv?", 3, (item,), "files", read("prices.csv"))
            )
        return drafts

    corpus: dict[str, str] = {}
    facts = []
    team_sizes = rng.sample(range(3, 60), len(PROJECTS))
    for name, codename, lead, city, team in zip(PROJECTS, CODENAMES, LEADS, CITIES, team_sizes):
        year = rng.randint(2012, 2025)
        corpus[f"{name.lower()}.md"] = (
            f"# Project {name}\n\nProject {name} is an internal effort run from the {city} office. The codename of"
            f" project {name} is {codename}. Project {name} is led by {lead}. It started in {year}, and"
            f" {team} people work on it.\n"
        )
        facts.append((name, codename, lead, city, year, team))

    def rag(family_rng: random.Random) -> list[Draft]:
        drafts = []
        for name, codename, lead, city, year, team in facts:

            def ask(question: str, answers: tuple[str, ...], query: str) -> Draft:
                return Draft(question, 2, answers, "rag_search", {"query": query})

            drafts += [
                ask(f"What is the codename of project {name}?", (codename.lower(),), f"codename of project {name}"),
                ask(f"Who leads project {name}?", (lead.lower(), lead.split()[1].lower()), f"who leads project {name}"),
                ask(f"In which year did project {name} start?", (str(year),), f"when did project {name} start"),
                ask(f"From which city's office is project {name} run?", (city.lower(),), f"office of project {name}"),
                ask(f"How many people work on project {name}?", (str(team),), f"how many people work on {name}"),
            ]
        family_rng.shuffle(drafts)
        return drafts

    families = [
        Family("files", 80, table=files, notes="inventory counts, phones, rooms, prices; reverse lookups"),
        Family("rag", 80, table=rag, notes="codename, lead, start year, office city, team size of 16 projects"),
    ]
    return Fixtures(workspace, corpus, families)
