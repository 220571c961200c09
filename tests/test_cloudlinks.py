"""parsers/cloudlinks.py on bodies shaped the way 126/163 webmail, 邮箱大师 and QQ Mail write
their 超大附件 blocks, in HTML and in plain text."""

from __future__ import annotations

from datetime import datetime

from parsers.cloudlinks import CloudLink, CloudService, find_cloud_attachments
from parsers.images import BEIJING

NETEASE_1 = (
    "https://mail.163.com/large-attachment-download/index.html"
    "?p=X-NETEASE-HUGE-ATTACHMENT&file=djAyZG1meTh2NXp6ZXdGeHk"
)
NETEASE_2 = (
    "https://mail.163.com/large-attachment-download/index.html"
    "?p=X-NETEASE-HUGE-ATTACHMENT&file=djAyUmhvd2tGZ2JxTHpGa0"
)

def _netease_item(url: str, name: str, facts: str, icon: str) -> str:
    href = url.replace("&", "&amp;")
    line = "padding:0px;line-height:14px;font-size:12px;"
    return (
        '<div style="clear:both;height:36px;padding:6px 4px;">\n'
        f'<div style="float:left;width:36px;"><a href="{href}" target="_blank">'
        f'<img width="32" height="32" border="0" src="https://mimg.127.net/xm/all/fj/{icon}">'
        "</a></div>\n"
        f'<div><div style="{line}">\n'
        f'<a style="color:#000;text-decoration:none;" href="{href}" target="_blank">{name}</a>\n'
        f'<span style="color:#bbb;">&nbsp;({facts})</span></div>\n'
        f'<div style="{line}"><a style="color:#1c6fc2;" href="{href}" target="_blank">下载</a>'
        "</div></div></div>\n"
    )


# 126 webmail's block, as it arrives: the #divNeteaseBigAttach list with an icon link, the name
# link with the size and expiry beside it, and a 下载 link, all to the same address.
NETEASE_HTML = (
    """<html><head><base target="_blank" />
<style id="cloudAttachStyle" type="text/css">
#divNeteaseBigAttach, #divNeteaseBigAttach_bak{display:none;}</style>
</head><body>
<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">
<div>郝科长：</div><div>&nbsp; &nbsp; 附件是盐湖区第3周活动视频，请查收。</div></div>
<div id="divNeteaseBigAttach"
 style="padding:4px;clear:both;margin-top:10px;margin-bottom:15px;background:#dee8f2;">
<div style="padding:4px 8px 8px;line-height:16px;font-size:14px;"><b>从网易126邮箱发来的超大附件</b>
<a class="bigattach-mailmaster-download" href="http://u.163.com/RcUwvU56g?spm=pos.free_webmail_1.composePage.0.0.bigattachMasterDownLoad">推荐客户端极速下载</a></div>
<div style="background:#fff;padding:4px;">
"""
    + _netease_item(
        NETEASE_1, "盐湖区安全生产月消防演练.mp4", "256.31M, 2023年6月22日 14:05 到期", "ico-bfile-8.gif"
    )
    + _netease_item(
        NETEASE_2, "第3周照片（87张）.zip", "1.2G, 2023年6月22日 14:05 到期", "ico-bfile-7.gif"
    )
    + "</div></div></body></html>"
)

NETEASE_TEXT = f"""郝科长：
    附件是盐湖区第3周活动视频，请查收。

从网易126邮箱发来的超大附件
盐湖区安全生产月消防演练.mp4 (256.31M, 2023年6月22日 14:05 到期)
下载：{NETEASE_1}
第3周照片（87张）.zip (1.2G, 2023年6月22日 14:05 到期)
下载：{NETEASE_2}
"""


def test_126_webmail_html_and_text() -> None:
    expected = (
        CloudLink(
            CloudService.NETEASE,
            NETEASE_1,
            "盐湖区安全生产月消防演练.mp4",
            "256.31M",
            round(256.31 * 1024**2),
            datetime(2023, 6, 22, 14, 5, tzinfo=BEIJING),
        ),
        CloudLink(
            CloudService.NETEASE,
            NETEASE_2,
            "第3周照片（87张）.zip",
            "1.2G",
            round(1.2 * 1024**3),
            datetime(2023, 6, 22, 14, 5, tzinfo=BEIJING),
        ),
    )
    assert find_cloud_attachments(NETEASE_TEXT, NETEASE_HTML) == expected
    assert find_cloud_attachments(NETEASE_TEXT, None) == expected
    assert find_cloud_attachments("", NETEASE_HTML) == expected


QQ_OLD = (
    "http://mail.qq.com/cgi-bin/ftnExs_download?t=exs_ftn_download"
    "&k=7d363834fce09c93f603333f4265514b02575a06505156061a5709010648&code=7684decd"
)
QQ_NEW = "https://wx.mail.qq.com/ftn/download?func=3&key=b9d1c7a3e5f04a2d&code=9f1e2d3c"

# QQ Mail's plain text: name, size and expiry, then the address on the same line.
QQ_TEXT = f"""郝老师您好，河津市第2周进展材料，视频较大用的超大附件。

从QQ邮箱发来的超大附件

河津市第2周活动视频.mp4 (128.03M, 2023年6月21日 21:59 到期)进入下载页面：{QQ_OLD}
河津市安全生产宣传片.mov (512.00M, 2023年7月5日 9:00 到期)进入下载页面：{QQ_NEW}
"""

QQ_HTML = f"""<div>郝老师您好，河津市第2周进展材料，视频较大用的超大附件。</div>
<div id="QQMailBigAttach" style="width:100%;margin-top:10px;">
<div style="padding:6px 10px;font-weight:bold;">从QQ邮箱发来的超大附件</div>
<div class="bigatt_bt" style="padding:4px 10px;">
<a href="{QQ_OLD.replace("&", "&amp;")}" target="_blank">河津市第2周活动视频.mp4</a>
<span style="color:#a0a0a0;">(128.03M, 2023年6月21日 21:59 到期)</span>
<a href="{QQ_OLD.replace("&", "&amp;")}" target="_blank">进入下载页面</a></div>
<div class="bigatt_bt" style="padding:4px 10px;">
<a href="{QQ_NEW.replace("&", "&amp;")}" target="_blank">河津市安全生产宣传片.mov</a>
<span style="color:#a0a0a0;">(512.00M, 2023年7月5日 9:00 到期)</span>
<a href="{QQ_NEW.replace("&", "&amp;")}" target="_blank">进入下载页面</a></div></div>"""


def test_qq_mail_old_and_new_links() -> None:
    found = find_cloud_attachments(QQ_TEXT, QQ_HTML)
    assert [(link.service, link.url, link.filename) for link in found] == [
        (CloudService.QQ, QQ_OLD, "河津市第2周活动视频.mp4"),
        (CloudService.QQ, QQ_NEW, "河津市安全生产宣传片.mov"),
    ]
    assert [link.expires for link in found] == [
        datetime(2023, 6, 21, 21, 59, tzinfo=BEIJING),
        datetime(2023, 7, 5, 9, 0, tzinfo=BEIJING),
    ]
    assert [link.size_bytes for link in found] == [round(128.03 * 1024**2), 512 * 1024**2]
    assert find_cloud_attachments(QQ_TEXT, None) == found
    assert find_cloud_attachments("", QQ_HTML) == found


DASHI = "https://dashi.163.com/html/cloud-attachment-download/?key=Q1dJR2pQa0NaZ1FxWEpM"


def test_mail_master_link_before_its_facts() -> None:
    # 邮箱大师 on a phone: the link first, then the name and size on labelled lines.
    text = f"""从网易邮箱大师发来的云附件
{DASHI}
文件名：夏县特色活动.mp4
文件大小：89.5 MB
到期时间：2023年6月30日
"""
    (link,) = find_cloud_attachments(text, None)
    assert link.service is CloudService.MAIL_MASTER
    assert link.url == DASHI
    assert link.filename == "夏县特色活动.mp4"
    assert link.size_text == "89.5MB"
    assert link.size_bytes == round(89.5 * 1024**2)
    # A date without a time lasts to the end of that day.
    assert link.expires == datetime(2023, 6, 30, 23, 59, tzinfo=BEIJING)


def test_a_link_that_never_expires() -> None:
    text = f"活动照片.zip (12.5M, 无限期)进入下载页面：{QQ_OLD}"
    (link,) = find_cloud_attachments(text, None)
    assert link.filename == "活动照片.zip"
    assert link.size_text == "12.5M"
    assert link.expires is None


def test_a_bare_link_is_still_recorded() -> None:
    (link,) = find_cloud_attachments(f"视频在这里 {NETEASE_1} 请下载", None)
    assert link == CloudLink(CloudService.NETEASE, NETEASE_1, None, None, None, None)


def test_other_links_are_not_cloud_attachments() -> None:
    text = (
        "http://u.163.com/RcUwvU56g 推荐客户端极速下载\n"
        "https://example.com/large-attachment-download/index.html?file=x\n"
        "https://mail.163.com/js6/main.jsp?sid=abc\n"
        "通知原文：http://gxj.yuncheng.gov.cn/notice/2023/42.html\n"
    )
    html = '<a href="javascript:alert(1)">large-attachment-download</a>'
    assert find_cloud_attachments(text, html) == ()
    assert find_cloud_attachments("", None) == ()
