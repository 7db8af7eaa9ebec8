"""A realistic, deterministic ledger of any size, for tests and benchmarks (`generate_ledger`).

It adds inspections, categories, findings, measures, assisting departments and progress
reports to whatever is already in the database. Speed is the point (a million measures in
minutes), so it bypasses the services: rows are built as tuples and written in batches, with
COPY on PostgreSQL and `bulk_create` elsewhere. Ids are reserved up front (max(id) + 1 …) so
findings, measures and reports link to each other without reading anything back.

No simple_history rows are written: a generated ledger has no past, and a million
"created" history rows would only slow the load down. The recompute job owns is_overdue,
is_due_soon and reported_this_period, so they keep their defaults here.
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


# --- The pools --------------------------------------------------------------------------
# Names a civil-affairs bureau really has: its offices (处室/科室), affiliated units and
# some of their sub-units.
DEPARTMENT_NAMES = (
    "办公室",
    "组织人事科",
    "计划财务科",
    "政策法规科",
    "社会救助科",
    "养老服务科",
    "儿童福利科",
    "社会事务科",
    "区划地名科",
    "基层政权建设和社区治理科",
    "社会组织管理科",
    "慈善事业促进和社会工作科",
    "婚姻登记处",
    "行政审批科",
    "机关党委",
    "市社会福利院",
    "市儿童福利院",
    "市救助管理站",
    "市殡仪馆",
    "市福利彩票发行中心",
    "市民政事业服务中心",
    "市养老服务指导中心",
    "市社会组织服务中心",
    "市最低生活保障事务中心",
    "市民政信息中心",
    "市社会福利院护理部",
    "市儿童福利院康复部",
    "市救助管理站业务科",
    "市殡仪馆业务科",
    "市福利彩票发行中心销售管理部",
)
# (full name, title); the first is the bureau head.
LEADERS = (
    ("王建国", "党组书记、局长"),
    ("李红梅", "党组副书记、副局长"),
    ("张志强", "党组成员、副局长"),
    ("刘海燕", "党组成员、副局长"),
    ("陈卫东", "党组成员、副局长"),
    ("杨秀英", "党组成员、副局长"),
    ("赵明华", "党组成员、派驻纪检监察组组长"),
    ("黄立新", "机关党委书记"),
    ("周晓峰", "四级调研员"),
    ("吴丽娟", "四级调研员"),
    ("徐国平", "二级调研员"),
    ("孙文杰", "三级调研员"),
)
OFFICE_SIGNERS = ("郑雪芳", "马俊", "朱晓玲")
_SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "强",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
)
_OWNER_TITLES = ("科长", "副科长", "四级主任科员", "一级科员", "主任", "副主任")

# (subject, the department that usually owns it)
SUBJECTS = (
    ("低保对象动态管理", "社会救助科"),
    ("特困人员供养资金发放", "社会救助科"),
    ("临时救助审核审批", "市最低生活保障事务中心"),
    ("低收入家庭经济状况核对", "市最低生活保障事务中心"),
    ("养老机构消防安全检查", "养老服务科"),
    ("居家养老服务站点运营", "市养老服务指导中心"),
    ("高龄津贴发放", "养老服务科"),
    ("孤儿和事实无人抚养儿童保障", "儿童福利科"),
    ("困境儿童关爱服务", "市儿童福利院"),
    ("殡葬服务收费管理", "社会事务科"),
    ("经营性公墓审批监管", "社会事务科"),
    ("遗体接运服务", "市殡仪馆业务科"),
    ("社会组织年度检查", "社会组织管理科"),
    ("行业协会商会涉企收费", "市社会组织服务中心"),
    ("婚姻登记档案管理", "婚姻登记处"),
    ("地名标志设置维护", "区划地名科"),
    ("村(居)务公开", "基层政权建设和社区治理科"),
    ("社区工作者队伍建设", "基层政权建设和社区治理科"),
    ("慈善募捐活动监管", "慈善事业促进和社会工作科"),
    ("福利彩票公益金使用", "计划财务科"),
    ("彩票销售站点管理", "市福利彩票发行中心销售管理部"),
    ("民政专项资金拨付", "计划财务科"),
    ("政府采购程序", "计划财务科"),
    ("公务接待和公车使用", "办公室"),
    ("干部选拔任用", "组织人事科"),
    ("干部轮岗交流", "组织人事科"),
    ("党支部“三会一课”", "机关党委"),
    ("意识形态阵地管理", "机关党委"),
    ("规范性文件合法性审查", "政策法规科"),
    ("行政许可事项办理", "行政审批科"),
    ("流浪乞讨人员救助", "市救助管理站业务科"),
    ("福利院护理服务质量", "市社会福利院护理部"),
    ("民政信息系统数据共享", "市民政信息中心"),
)
_PROBLEMS = (
    "不到位",
    "制度执行不严格",
    "台账资料不规范、不完整",
    "监督检查不够经常",
    "程序不规范、审核把关不严",
    "底数不清、情况不明",
    "主体责任压得不实",
    "长效机制不健全",
    "整改不彻底、存在反弹",
    "信息公开不及时",
    "资金使用效益不高",
    "风险隐患排查不深入",
)
_DETAILS = (
    "",
    ",部分乡镇(街道)落实打折扣",
    ",个别单位存在“重形式、轻实效”问题",
    ",群众反映较为集中",
    ",上级检查中曾多次指出",
)
_ACTIONS = (
    "制定出台{s}工作办法,明确职责分工、工作流程和时限要求",
    "修订完善{s}相关制度,堵塞管理漏洞",
    "开展{s}专项排查,建立问题清单和整改台账",
    "组织{s}业务培训,提升经办人员政策水平",
    "对{s}开展“回头看”,逐项核查整改成效",
    "建立{s}定期检查和通报机制,每季度开展一次督查",
    "约谈相关责任人,督促落实{s}主体责任",
    "运用信息化手段加强{s}全过程监管",
    "委托第三方机构对{s}进行评估,形成评估报告",
    "将{s}纳入年度目标责任制考核",
    "召开专题会议研究部署{s}整改工作",
    "对{s}中发现的问题立行立改、逐一销号",
)
_TARGETS = (
    "{s}制度健全、运行规范",
    "{s}问题全部整改到位、不再反弹",
    "{s}形成长效机制",
    "{s}群众满意度明显提升",
    "{s}经办流程规范、台账完整",
)
_RESULTS = (
    "已印发{s}工作规程(民办〔{y}〕{n}号),相关制度已执行",
    "已完成{s}专项排查,发现并整改问题{n}个",
    "已组织{s}专题培训{n}场次,相关人员全部参训",
    "{s}“回头看”已完成,问题未出现反弹",
    "{s}问题已全部整改到位,佐证材料已归档",
)
_PROGRESS = (
    "已制定{s}整改工作方案,明确责任人和时间节点",
    "{s}相关制度已完成初稿,正在征求意见",
    "{s}专项排查正在推进,已完成约一半",
    "已召开{s}整改推进会,逐项督促落实",
    "{s}整改受客观因素影响进度偏慢,正在协调解决",
)
_FINAL_PROGRESS = "{s}整改任务已完成,佐证材料已上传"

CATEGORY_TITLES = (
    "落实党中央重大决策部署方面存在差距",
    "履行民政职责使命方面存在短板",
    "全面从严治党主体责任落实不到位",
    "落实中央八项规定精神方面存在薄弱环节",
    "选人用人和干部队伍建设方面存在不足",
    "基层党组织建设不够扎实",
    "意识形态工作责任制落实不到位",
    "工作机制有待进一步完善",
    "社会救助政策落实不够精准",
    "养老服务体系建设滞后",
    "儿童福利和未成年人保护工作存在薄弱环节",
    "殡葬改革推进不够有力",
    "社会组织登记管理不够规范",
    "财务管理和资金使用不够规范",
    "政府采购和项目管理存在漏洞",
    "国有资产管理不够严格",
    "内部控制制度执行不到位",
    "安全生产监管存在隐患",
    "信息化建设和数据共享滞后",
    "基层民政服务能力不足",
    "依法行政水平有待提升",
    "便民服务质量有待提高",
    "以往巡察和审计发现问题整改不彻底",
    "作风建设存在短板",
    "廉政风险防控不够到位",
    "婚姻登记服务不够规范",
    "区划地名管理基础工作薄弱",
    "慈善和社会工作发展不充分",
    "福利彩票发行销售管理有待加强",
    "村(居)务公开和社区治理不到位",
)
INSPECTED_UNITS = (
    "市民政局",
    "市社会福利院",
    "市儿童福利院",
    "市救助管理站",
    "市殡仪馆",
    "市福利彩票发行中心",
    "市民政事业服务中心",
    "市养老服务指导中心",
    "东城区民政局",
    "西城区民政局",
    "南湖区民政局",
    "北山区民政局",
    "江滨区民政局",
    "高新区社会事务局",
    "经开区社会事务局",
    "清河县民政局",
    "临江县民政局",
    "安平县民政局",
    "永宁县民政局",
    "丰华县民政局",
    "青山县民政局",
    "长乐县民政局",
    "云溪县民政局",
    "白石县民政局",
)
_TOPICS = (
    "社会救助",
    "养老服务",
    "殡葬管理",
    "未成年人保护",
    "社区治理",
    "婚姻登记",
    "社会组织管理",
    "福利彩票公益金使用",
)
_AUDIT_TOPICS = ("预算执行", "经济责任", "专项资金", "福利彩票公益金", "养老服务补贴资金", "社会救助资金", "政府采购")
_TERMS = ("十二届", "十三届", "十四届")

# kind → (weight, source body, document-number prefix); weights follow how often each
# kind of inspection reaches a civil-affairs bureau.
_INSPECTION_KINDS = {
    InspectionKind.PATROL: (24, "市委巡察组", "市委巡察办"),
    InspectionKind.PATROL_LOOKBACK: (8, "市委巡察组", "市委巡察办"),
    InspectionKind.CONGRESS_APPRAISAL: (7, "市人大常委会", "市人大常委会办公室"),
    InspectionKind.AUDIT: (16, "市审计局", "市审计局"),
    InspectionKind.SUPERVISION: (14, "市政府督查室", "市政府督查室"),
    InspectionKind.SURVEY: (7, "市人大社会建设委员会", "市人大社会委"),
    InspectionKind.PETITION: (6, "市信访局", "市信访局"),
    InspectionKind.SELF_REVIEW: (12, "", "市民政局"),
    InspectionKind.OTHER: (6, "市纪委监委", "市纪委监委"),
}


def _owner_names(department_index: int) -> list[str]:
    names = []
    for k in range(3):
        i = department_index * 3 + k
        surname = _SURNAMES[(i * 7) % len(_SURNAMES)]
        given = _GIVEN[(i * 5) % len(_GIVEN)] + ("" if i % 3 else _GIVEN[(i * 11 + 3) % len(_GIVEN)])
        names.append(f"{surname}{given}({_OWNER_TITLES[i % len(_OWNER_TITLES)]})")
    return names


def _inspection_title(kind: str, ordinal: int, year: int) -> tuple[str, str, str, str]:
    """(title, round, inspected unit, source body), distinct for distinct ordinals of a kind.

    The ordinal (the new inspection's id) is read as a mixed-radix number over the parts of
    the title; what is left over numbers the round or batch, so titles stay unique however
    many times the generator runs.
    """
    patrol = kind in (InspectionKind.PATROL, InspectionKind.PATROL_LOOKBACK)
    topics = _AUDIT_TOPICS if kind == InspectionKind.AUDIT else _TOPICS
    radices = (len(INSPECTED_UNITS), 10, len(_TERMS)) if patrol else (len(INSPECTED_UNITS), len(topics))
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
        group, term = chinese_numeral(digits[1] + 1), _TERMS[digits[2]]
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
    body = unit if kind == InspectionKind.SELF_REVIEW else _INSPECTION_KINDS[kind][1]
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
    findings_of = [[f"{s}{p}{d}" for p in _PROBLEMS for d in _DETAILS] for s, _ in SUBJECTS]
    actions_of = [[a.format(s=s) for a in _ACTIONS] for s, _ in SUBJECTS]
    targets_of = [[t.format(s=s) for t in _TARGETS] for s, _ in SUBJECTS]
    results_of = [[r.replace("{s}", s) for r in _RESULTS] for s, _ in SUBJECTS]
    progress_of = [[p.format(s=s) for p in _PROGRESS] for s, _ in SUBJECTS]
    final_of = [_FINAL_PROGRESS.format(s=s) for s, _ in SUBJECTS]

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
    kinds = list(_INSPECTION_KINDS)
    count = min(measures, max(len(kinds), round(measures / MEASURES_PER_INSPECTION)))
    sizes = _split(rng, measures, count)
    first_kinds = rng.sample(kinds, len(kinds))
    weights = [w for w, _, _ in _INSPECTION_KINDS.values()]
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
                f"{_INSPECTION_KINDS[kind][2]}〔{feedback_day.year}〕{inspection_id}号",
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
