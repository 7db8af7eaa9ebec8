from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """Each role is a Django auth group of the same name; `measures.permissions` reads it."""

    OFFICE = "office", _("整改办")
    STAFF = "staff", _("责任单位工作人员")
    LEADERSHIP = "leadership", _("领导")
    AUDITOR = "auditor", _("审计/纪检")


class Department(models.Model):
    """责任单位 / 处室 / 科室."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("排序"), default=0)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("责任单位")
        verbose_name_plural = _("责任单位")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A bureau user. Staff belong to one department; the role is the user's group."""

    full_name = models.CharField(_("姓名"), max_length=50, blank=True)
    title = models.CharField(_("职务"), max_length=100, blank=True)
    department = models.ForeignKey(
        Department,
        verbose_name=_("所属单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username
