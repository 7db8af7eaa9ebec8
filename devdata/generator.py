"""A realistic, deterministic ledger of any size, for tests and benchmarks (`generate_ledger`).

It adds inspections, categories, findings, measures, assisting departments and progress
reports to whatever is already in the database. Speed is the point (a million measures in
minutes), so it bypasses the services: rows are built as tuples and written in batches, with
COPY on PostgreSQL and `bulk_create` elsewhere. Ids are reserved up front (max(id) + 1 …) so
findings, measures and reports link to each other without reading anything back.

No simple_history rows are written: a generated ledger has no past, and a million
"created" history rows would only slow the load down. The recompute job owns is_overdue,
is_due_soon and reported_this_period, so they keep their defaults here.

Its words are in `devdata.vocabulary`. What is left (~590 lines) is one algorithm: reserve
ids, decide each row from the seeded random stream, and write the batches; split further it
would have to pass the same dozen running counters between modules.
"""

import io
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime

from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, models, reset_queries, transaction
from django.utils import timezone

from accounts.models import Department, Role, User
from devdata.vocabulary import (
    ACTIONS,
    AUDIT_TOPICS,
    CATEGORY_TITLES,
    DEPARTMENT_NAMES,
    DETAILS,
    FINAL_PROGRESS,
    GIVEN,
    INSPECTED_UNITS,
    INSPECTION_KINDS,
    LEADERS,
    OFFICE_SIGNERS,
    OWNER_TITLES,
    PROBLEMS,
    PROGRESS,
    RESULTS,
    SUBJECTS,
    SURNAMES,
    TARGETS,
    TERMS,
    TOPICS,
)
from findings.models import Category, Finding, Inspection, InspectionKind
from measures.models import Measure, MeasureKind, MeasureStatus, ProgressReport

DEFAULT_BATCH_SIZE = 20_000
MEASURES_PER_INSPECTION = 150
SOURCE_NOTE = "由 generate_ledger 生成的测试台账,不是真实数据。"

_NUMERALS = "一二三四五六七八九十"


def chinese_numeral(n: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (enough for rounds, groups and categories)."""
    if n <= 10:
        return _NUMERALS[n - 1]
    if n >= 100:
        return str(n)
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _NUMERALS[tens - 1]) + "十" + (_NUMERALS[ones - 1] if ones else "")


def _owner_names(department_index: int) -> list[str]:
    names = []
    for k in range(3):
        i = department_index * 3 + k
        surname = SURNAMES[(i * 7) % len(SURNAMES)]
        given = GIVEN[(i * 5) % len(GIVEN)] + ("" if i % 3 else GIVEN[(i * 11 + 3) % len(GIVEN)])
        names.append(f"{surname}{given}({OWNER_TITLES[i % len(OWNER_TITLES)]})")
    return names


def _inspection_title(kind: str, ordinal: int, year: int) -> tuple[str, str, str, str]:
    """(title, round, inspected unit, source body), distinct for distinct ordinals of a kind.

    The ordinal (the new inspection's id) is read as a mixed-radix number over the parts of
    the title; what is left over numbers the round or batch, so titles stay unique however
    many times the generator runs.
    """
    patrol = kind in (InspectionKind.PATROL, InspectionKind.PATROL_LOOKBACK)
    topics = AUDIT_TOPICS if kind == InspectionKind.AUDIT else TOPICS
    radices = (len(INSPECTED_UNITS), 10, len(TERMS)) if patrol else (len(INSPECTED_UNITS), len(topics))
    product = 1
    for radix in radices:
        product *= radix
    # Multiplying by a prime larger than `product` permutes the ordinals below it, so
    # neighbouring inspections differ in unit, topic and group rather than only in unit.
    rest, mixed = divmod(ordinal, product)
    mixed = (mixed * 1009 + 17) % product
    digits = []
    for radix in radices:
        mixed, digit = divmod(mixed, radix)
        digits.append(digit)
    unit, batch = INSPECTED_UNITS[digits[0]], chinese_numeral(rest + 1)
    if patrol:
        group, term = chinese_numeral(digits[1] + 1), TERMS[digits[2]]
        party = "党组" if unit.endswith("局") else "党总支"
        lookback = "“回头看”" if kind == InspectionKind.PATROL_LOOKBACK else ""
        title = f"{term}市委第{batch}轮巡察第{group}巡察组对{unit}{party}巡察{lookback}"
        return title, f"{term}市委第{batch}轮巡察", unit + party, f"市委第{group}巡察组"
    topic = topics[digits[1]]
    title = {
        InspectionKind.AUDIT: f"{year}年度{unit}{topic}审计(第{batch}批)",
        InspectionKind.CONGRESS_APPRAISAL: f"{year}年市人大常委会对{unit}{topic}工作第{batch}次评议",
        InspectionKind.SUPERVISION: f"{year}年{unit}{topic}工作专项督查(第{batch}批)",
        InspectionKind.SURVEY: f"关于{unit}{topic}能力建设情况的调研({year}年第{batch}次)",
        InspectionKind.PETITION: f"{year}年{unit}{topic}信访问题交办整改(第{batch}批)",
        InspectionKind.SELF_REVIEW: f"{year}年{unit}{topic}工作自查自纠(第{batch}轮)",
    }.get(kind, f"{year}年{unit}{topic}群众反映问题整改(第{batch}批)")
    body = unit if kind == InspectionKind.SELF_REVIEW else INSPECTION_KINDS[kind][1]
    return title, "", unit, body


# --- Writing rows -----------------------------------------------------------------------
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if type(value) is str:
        return value.translate(_COPY_ESCAPES)
    return str(value)  # int, date, aware datetime: PostgreSQL reads their str() forms


class _TableWriter:
    """Buffers rows of one table and writes them with COPY (PostgreSQL) or bulk_create.

    Rows hold `columns` in order (attnames). On the COPY path every other concrete column
    gets its field default, so a field added to the model later does not break the load.
    """

    def __init__(
        self, model: type[models.Model], columns: Sequence[str], *, use_copy: bool, batch_size: int, now: datetime
    ):
        self.model = model
        self.columns = tuple(columns)
        self.use_copy = use_copy
        self.batch_size = batch_size
        self.rows: list[tuple] = []
        self.written = 0
        if use_copy:
            by_attname = {f.attname: f for f in model._meta.concrete_fields}
            extra_columns, extra_values = [], []
            for field in model._meta.concrete_fields:
                if field.attname in self.columns or (field.primary_key and isinstance(field, models.AutoField)):
                    continue
                if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                    value = now
                elif field.has_default():
                    value = field.get_db_prep_save(field.get_default(), connection)
                elif field.null:
                    value = None
                else:
                    raise ValueError(f"generate_ledger cannot fill {model.__name__}.{field.name}; add it to the rows.")
                extra_columns.append(field.column)
                extra_values.append(value)
            qn = connection.ops.quote_name
            names = [by_attname[c].column for c in self.columns] + extra_columns
            self.copy_sql = f"COPY {qn(model._meta.db_table)} ({', '.join(qn(n) for n in names)}) FROM STDIN"
            self.line_end = "".join("\t" + _copy_text(v) for v in extra_values) + "\n"

    def add(self, row: tuple) -> None:
        self.rows.append(row)

    def flush(self) -> None:
        if not self.rows:
            return
        if self.use_copy:
            end = self.line_end
            buffer = io.StringIO("".join("\t".join(map(_copy_text, row)) + end for row in self.rows))
            with connection.cursor() as cursor:
                cursor.copy_expert(self.copy_sql, buffer)
        else:
            model, columns = self.model, self.columns
            objs = [model(**dict(zip(columns, row, strict=True))) for row in self.rows]
            model.objects.bulk_create(objs, batch_size=self.batch_size)
        self.written += len(self.rows)
        self.rows = []


# --- The generator ----------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedLedger:
    inspections: int
    categories: int
    findings: int
    measures: int
    assisting_links: int
    progress_reports: int
    method: str  # "copy" or "bulk_create"
    seconds: float

    @property
    def rows(self) -> int:
        return (
            self.inspections
            + self.categories
            + self.findings
            + self.measures
            + self.assisting_links
            + self.progress_reports
        )


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` as `parts` positive integers, every composition equally likely."""
    if parts <= 1:
        return [total]
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _people() -> tuple[list[Department], list[User], list[User], list[User]]:
    """The departments, leaders, office signers and one staff reporter per department.

    Fixed names, fetched or created, so a second run reuses them.
    """
    departments = []
    for order, name in enumerate(DEPARTMENT_NAMES, start=1):
        department, _ = Department.objects.get_or_create(name=name, defaults={"order": order})
        departments.append(department)
    groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}

    def user(username: str, full_name: str, role: Role, **fields: object) -> User:
        person, created = User.objects.get_or_create(username=username, defaults={"full_name": full_name, **fields})
        if created:
            person.set_unusable_password()
            person.save(update_fields=["password"])
        person.groups.add(groups[role])
        return person

    leaders = [
        user(f"ledger_leader_{i:02d}", name, Role.LEADERSHIP, title=title)
        for i, (name, title) in enumerate(LEADERS, start=1)
    ]
    signers = [
        user(f"ledger_office_{i}", name, Role.OFFICE, title="整改办工作人员")
        for i, name in enumerate(OFFICE_SIGNERS, start=1)
    ]
    reporters = [
        user(f"ledger_staff_{i:02d}", _owner_names(i - 1)[0].split("(")[0], Role.STAFF, department=department)
        for i, department in enumerate(departments, start=1)
    ]
    return departments, leaders, signers, reporters


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(top=models.Max("pk"))["top"] or 0) + 1


def ledger_generate(
    *,
    measures: int,
    seed: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    today: date | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> GeneratedLedger:
    """Add a ledger of exactly `measures` measures; the same seed and day give the same ledger.

    One transaction: a failed run leaves nothing behind. `seconds` includes the commit, where
    PostgreSQL checks the deferred foreign keys of every new row.
    """
    if measures < 1:
        raise ValueError("measures must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    with transaction.atomic():
        counts = _ledger_write(
            measures=measures, seed=seed, batch_size=batch_size, today=today, on_progress=on_progress
        )
    return GeneratedLedger(
        **counts,
        method="copy" if connection.vendor == "postgresql" else "bulk_create",
        seconds=time.perf_counter() - started,
    )


def _ledger_write(
    *,
    measures: int,
    seed: int,
    batch_size: int,
    today: date | None,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, int]:
    rng = random.Random(seed)
    now = timezone.now()
    today = today or timezone.localdate()
    midnight = datetime.combine(today, dtime(), tzinfo=timezone.get_current_timezone())
    now_ts = max(0, int((now - midnight).total_seconds())) if today == timezone.localdate() else 86_399
    use_copy = connection.vendor == "postgresql"

    departments, leaders, signers, reporters = _people()
    department_ids = [d.pk for d in departments]
    department_index = {d.name: i for i, d in enumerate(departments)}
    leader_ids = [u.pk for u in leaders]
    signer_ids = [u.pk for u in signers]
    reporter_ids = [u.pk for u in reporters]
    owners = [_owner_names(i) for i in range(len(departments))]
    # 分管: each department answers to one leader; the head (index 0) leads the office.
    leader_of = [leader_ids[i % len(leader_ids)] for i in range(len(departments))]
    subject_department = [department_index[d] for _, d in SUBJECTS]
    findings_of = [[f"{s}{p}{d}" for p in PROBLEMS for d in DETAILS] for s, _ in SUBJECTS]
    actions_of = [[a.format(s=s) for a in ACTIONS] for s, _ in SUBJECTS]
    targets_of = [[t.format(s=s) for t in TARGETS] for s, _ in SUBJECTS]
    results_of = [[r.replace("{s}", s) for r in RESULTS] for s, _ in SUBJECTS]
    progress_of = [[p.format(s=s) for p in PROGRESS] for s, _ in SUBJECTS]
    final_of = [FINAL_PROGRESS.format(s=s) for s, _ in SUBJECTS]

    if use_copy:
        # Reserve the id ranges: nobody else may insert into these tables until we commit
        # (readers are not blocked), so max(id) + 1 … is ours.
        tables = ", ".join(
            connection.ops.quote_name(m._meta.db_table) for m in (Inspection, Category, Finding, Measure)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
    inspection_id, category_id, finding_id, measure_id = (_next_id(m) for m in (Inspection, Category, Finding, Measure))

    def writer(model: type[models.Model], columns: Sequence[str]) -> _TableWriter:
        return _TableWriter(model, columns, use_copy=use_copy, batch_size=batch_size, now=now)

    inspections_w = writer(
        Inspection,
        (
            "id",
            "kind",
            "title",
            "round",
            "document_number",
            "source_body",
            "inspected_unit",
            "deployment",
            "onsite_start",
            "onsite_end",
            "feedback_date",
            "deadline",
            "follows_up_id",
            "summary",
            "source_note",
        ),
    )
    categories_w = writer(Category, ("id", "inspection_id", "order", "title"))
    findings_w = writer(Finding, ("id", "inspection_id", "category_id", "number", "description"))
    measures_w = writer(
        Measure,
        (
            "id",
            "finding_id",
            "inspection_id",
            "category_id",
            "number",
            "text",
            "target",
            "kind",
            "responsible_leader_id",
            "lead_department_id",
            "owner",
            "deadline",
            "status",
            "completed_at",
            "result",
            "reviewed_at",
            "reviewed_by_id",
            "signed_off_at",
            "signed_off_by_id",
            "last_progress_at",
        ),
    )
    assisting_w = writer(Measure.assisting_departments.through, ("measure_id", "department_id"))
    reports_w = writer(ProgressReport, ("measure_id", "reported_on", "text", "author_id"))
    # Parents before children, so even immediate foreign-key checks would pass.
    writers = (inspections_w, categories_w, findings_w, measures_w, assisting_w, reports_w)

    def flush_all() -> None:
        for w in writers:
            w.flush()
        if connection.queries_logged and not connection.force_debug_cursor:
            reset_queries()  # DEBUG would otherwise keep every batch's SQL in memory
        if on_progress:
            on_progress(measures_w.written, measures)

    day_cache: dict[int, date] = {}

    def day(offset: int) -> date:
        d = day_cache.get(offset)
        if d is None:
            d = day_cache[offset] = today + timedelta(days=offset)
        return d

    def moment(seconds: int) -> datetime:
        return midnight + timedelta(seconds=seconds)

    # --- Inspections: about one per 150 measures, at least one of every kind. ---
    kinds = list(INSPECTION_KINDS)
    count = min(measures, max(len(kinds), round(measures / MEASURES_PER_INSPECTION)))
    sizes = _split(rng, measures, count)
    first_kinds = rng.sample(kinds, len(kinds))
    weights = [w for w, _, _ in INSPECTION_KINDS.values()]
    plans = []  # (id, feedback offset, deadline offset, measures), offsets in days from today
    patrols: list[tuple[int, int]] = []  # (id, feedback offset) of this run's patrols
    for i, size in enumerate(sizes):
        kind = first_kinds[i] if i < len(first_kinds) else rng.choices(kinds, weights)[0]
        feedback = -rng.randint(20, 420)
        span = rng.choice((90, 180, 180, 270, 365, 365))
        onsite_start = feedback - rng.randint(40, 100)
        onsite_end = onsite_start + rng.randint(10, 30)
        feedback_day = day(feedback)
        title, round_, unit, body = _inspection_title(kind, inspection_id, feedback_day.year)
        follows_up = None
        if kind == InspectionKind.PATROL_LOOKBACK:
            earlier = [pid for pid, pfeedback in patrols if pfeedback < feedback - 90]
            follows_up = rng.choice(earlier) if earlier else None
        elif kind == InspectionKind.PATROL:
            patrols.append((inspection_id, feedback))
        inspections_w.add(
            (
                inspection_id,
                kind.value,
                title,
                round_,
                f"{INSPECTION_KINDS[kind][2]}〔{feedback_day.year}〕{inspection_id}号",
                body,
                unit,
                "市委统一部署" if kind in (InspectionKind.PATROL, InspectionKind.PATROL_LOOKBACK) else "",
                day(onsite_start),
                day(onsite_end),
                feedback_day,
                day(feedback + span),
                follows_up,
                f"{body}反馈问题,本单位制定整改措施{size}条。",
                SOURCE_NOTE,
            )
        )
        plans.append((inspection_id, feedback, feedback + span, size))
        inspection_id += 1

    # --- Categories, findings, measures, assisting departments, progress reports. ---
    rnd, randint, choice, randrange = rng.random, rng.randint, rng.choice, rng.randrange
    n_departments = len(departments)
    open_statuses = (MeasureStatus.IN_PROGRESS.value, MeasureStatus.NOT_STARTED.value, MeasureStatus.RETURNED.value)
    signed_off, reviewed, completed = (
        MeasureStatus.SIGNED_OFF.value,
        MeasureStatus.REVIEWED.value,
        MeasureStatus.COMPLETED.value,
    )
    not_started = MeasureStatus.NOT_STARTED.value
    immediate, by_deadline, long_term = (
        MeasureKind.IMMEDIATE.value,
        MeasureKind.BY_DEADLINE.value,
        MeasureKind.LONG_TERM.value,
    )
    office_start, office_end = 9 * 3600, 18 * 3600

    for ins_id, feedback, ins_deadline, size in plans:
        finding_count = min(size, max(1, round(size / (3.5 + 3 * rnd()))))
        category_count = min(finding_count, 14, max(1, round(finding_count / (2 + 2.5 * rnd()))))
        category_ids = []
        for order, cat_title in enumerate(rng.sample(CATEGORY_TITLES, category_count), start=1):
            categories_w.add((category_id, ins_id, order, cat_title))
            category_ids.append(category_id)
            category_id += 1
        per_category = _split(rng, finding_count, category_count)
        per_finding = _split(rng, size, finding_count)
        finding_number = 0
        for cat_id, n_findings in zip(category_ids, per_category, strict=True):
            for _ in range(n_findings):
                subject = randrange(len(SUBJECTS))
                findings_w.add((finding_id, ins_id, cat_id, finding_number + 1, choice(findings_of[subject])))
                for number in range(1, per_finding[finding_number] + 1):
                    r = rnd()
                    if r < 0.25:
                        kind, deadline = immediate, feedback + randint(7, 45)
                    elif r < 0.85:
                        kind = by_deadline
                        # A few deadlines fall in the next fortnight, so "due soon" is never empty.
                        deadline = randint(0, 14) if rnd() < 0.04 else feedback + randint(30, ins_deadline - feedback)
                    else:
                        kind, deadline = long_term, ins_deadline
                    # Nine in ten past their deadline are done; before it, the share done grows
                    # with the time elapsed since the feedback.
                    p_done = 0.9 if deadline < 0 else 0.1 + 0.55 * -feedback / max(1, deadline - feedback)
                    lead = subject_department[subject] if rnd() < 0.7 else randrange(n_departments)
                    leader = leader_of[lead] if rnd() < 0.9 else choice(leader_ids)
                    completed_at = reviewed_at = reviewed_by = signed_at = signed_by = None
                    result = ""
                    if rnd() < p_done:
                        r = rnd()
                        status = signed_off if r < 0.55 else reviewed if r < 0.75 else completed
                        high = min(-1, deadline + 20) if deadline < 0 else -1
                        done_day = randint(min(feedback + 1, high), high)
                        done_ts = min(done_day * 86400 + randint(office_start, office_end), now_ts - 60)
                        completed_at = moment(done_ts)
                        result = choice(results_of[subject]).format(y=day(done_day).year, n=randint(2, 40))
                        if status != completed:
                            review_ts = min(done_ts + randint(1800, 7 * 86400), now_ts - 30)
                            reviewed_at, reviewed_by = moment(review_ts), leader
                            if status == signed_off:
                                signed_at = moment(min(review_ts + randint(1800, 10 * 86400), now_ts))
                                signed_by = choice(signer_ids)
                        last_report, n_reports = done_day, randint(1, 2)
                    else:
                        r = rnd()
                        status = open_statuses[0 if r < 0.6 else 1 if r < 0.85 else 2]
                        n_reports = (1 if rnd() < 0.15 else 0) if status == not_started else randint(1, 3)
                        # About half reported this month; the rest have gone quiet.
                        last_report = -randint(0, 20) if rnd() < 0.5 else -randint(31, 150)
                        last_report = max(last_report, feedback + 1)
                    last_progress_at = None
                    if n_reports:
                        author = reporter_ids[lead]
                        report_day = last_report
                        last_progress_at = moment(min(report_day * 86400 + randint(office_start, office_end), now_ts))
                        texts = progress_of[subject]
                        for k in range(n_reports):
                            if report_day <= feedback:
                                break
                            text = final_of[subject] if k == 0 and completed_at else choice(texts)
                            reports_w.add((measure_id, day(report_day), text, author))
                            report_day -= randint(20, 40)
                    measures_w.add(
                        (
                            measure_id,
                            finding_id,
                            ins_id,
                            cat_id,
                            number,
                            choice(actions_of[subject]),
                            choice(targets_of[subject]),
                            kind,
                            leader if rnd() < 0.97 else None,
                            department_ids[lead],
                            choice(owners[lead]),
                            day(deadline),
                            status,
                            completed_at,
                            result,
                            reviewed_at,
                            reviewed_by,
                            signed_at,
                            signed_by,
                            last_progress_at,
                        )
                    )
                    if rnd() < 0.3:
                        helpers = {randrange(n_departments) for _ in range(1 if rnd() < 0.7 else randint(2, 3))}
                        for helper in sorted(helpers - {lead}):
                            assisting_w.add((measure_id, department_ids[helper]))
                    measure_id += 1
                    if len(measures_w.rows) >= batch_size:
                        flush_all()
                finding_id += 1
                finding_number += 1
    flush_all()

    if use_copy:
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Inspection, Category, Finding, Measure]):
                cursor.execute(sql)
            # Fresh statistics, so the first queries after a big load get sensible plans.
            for w in writers:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(w.model._meta.db_table)}")

    return {
        "inspections": inspections_w.written,
        "categories": categories_w.written,
        "findings": findings_w.written,
        "measures": measures_w.written,
        "assisting_links": assisting_w.written,
        "progress_reports": reports_w.written,
    }
