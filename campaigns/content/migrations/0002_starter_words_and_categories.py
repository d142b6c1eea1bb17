"""The finance sensitive-word list compliance starts from, and the content categories; both editable later."""

from django.db import migrations

# (word, why it is listed) — promises of return or safety that China's banking regulators forbid in marketing.
WORDS = [
    ("保本", "理财产品不得承诺保本（资管新规）"),
    ("保息", "不得承诺保本保息"),
    ("保收益", "不得承诺收益"),
    ("保证收益", "不得承诺收益"),
    ("确保收益", "不得承诺收益"),
    ("承诺收益", "不得承诺收益"),
    ("收益有保障", "不得承诺收益"),
    ("100%收益", "不得承诺收益"),
    ("稳赚", "不得承诺收益"),
    ("稳赚不赔", "不得承诺收益"),
    ("稳赢", "不得承诺收益"),
    ("包赚", "不得承诺收益"),
    ("只赚不赔", "不得承诺收益"),
    ("零风险", "不得宣称无风险"),
    ("无风险", "不得宣称无风险"),
    ("高收益无风险", "不得宣称无风险"),
    ("绝对安全", "不得宣称无风险"),
    ("本金无忧", "不得暗示保本"),
    ("刚兑", "打破刚性兑付（资管新规）"),
    ("刚性兑付", "打破刚性兑付（资管新规）"),
    ("类存款", "不得将理财产品与存款混同"),
    ("替代存款", "不得将理财产品与存款混同"),
]
CATEGORIES = ["理财产品", "存款", "贷款", "信用卡", "活动", "节日问候", "反诈宣传", "欢迎语"]


def seed(apps, schema_editor):
    SensitiveWord = apps.get_model("content", "SensitiveWord")
    ContentCategory = apps.get_model("content", "ContentCategory")
    for word, note in WORDS:
        SensitiveWord.objects.get_or_create(word=word, defaults={"note": note})
    for order, name in enumerate(CATEGORIES):
        ContentCategory.objects.get_or_create(name=name, defaults={"order": order})


class Migration(migrations.Migration):
    dependencies = [("content", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
