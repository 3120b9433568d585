"""The site's own words (headings, labels, table columns) in both languages. A component's text lives with it."""

from __future__ import annotations

LANGS = ("zh", "en")

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "site": "Kubernetes 高可用控制平面运行手册",
        "expect": "应看到类似这样的输出",
        "download": "下载", "notebook": "用 Notebook 执行本章",
        "workstation": "在运维机上执行", "per_node": "每个节点分别执行", "chapters": "章节",
        "inventory": "节点清单", "ports": "端口", "versions": "版本", "topology": "拓扑",
        "name": "名称", "roles": "角色", "port": "端口", "purpose": "用途", "node": "节点",
        "clusters": "集群", "overview": "概览", "item": "项目", "value": "值",
        "last_run": "最近一次执行", "no_run": "还没有执行记录（`invoke deploy --cluster {ref}` 会生成）。",
        "result": "结果", "when": "时间", "steps": "步骤", "release": "Kubernetes 版本", "chapter": "章节",
        "status": "状态", "figures": "实测数据", "figure": "指标", "seconds": "秒", "notebook_run": "执行后的 Notebook",
        "masters": "master 数", "api_endpoint": "API 入口", "lock": "leader 选举（选主）锁",
        "workstation_box": "运维机",
        "no_lb": "无负载均衡", "external_lb": "外部负载均衡",
        "filter_name": "按集群名称筛选", "all_releases": "全部版本", "all_results": "全部结果", "none": "无",
        "passed": "通过", "failed": "失败", "skipped": "跳过", "not_run": "未执行",
        "needs_bin": "这一步需要 Kubernetes 服务端二进制文件（`prerequisites.server_tarball`）；该文件不存在时，"
                     "`invoke deploy` 把这一步报告为跳过，而不是通过。",
        "invoke_tab": "用本工具", "by_hand_tab": "手工执行（cfssl、kubectl）",
        "by_hand_note": "不用本工具时的等价命令：生成同样的主题、SAN、用途和 kubeconfig 结构"
                        "（`tests/test_by_hand.py` 用真实的 cfssl 和 kubectl 验证）。",
        "notebook_howto": "参数 `cluster` 是集群名，`dry_run=True` 只打印命令：",
        "home_intro": "每个集群的运行手册都由 `clusters/<名称>.yaml` 这一个文件生成：页面上的每条命令，"
                      "就是 `invoke deploy` 与 Notebook 执行的同一条命令。",
        "run_of": "{cluster} 集群 {when} 的执行记录",
        "ledger": "证书台账", "file": "文件", "kind": "类型", "subject": "主题", "expires": "到期",
        "days_left": "剩余天数", "signed_by": "签发者", "where": "位置", "restart": "变更后重启",
        "kind_ca": "CA", "kind_ca-bundle": "CA（轮换中：新旧两个）",
        "kind_certificate": "证书", "kind_kubeconfig": "kubeconfig 内的证书",
        "ledger_intro": "每次渲染都从 `{file}` 重新生成这张表，按到期时间排序；剩余不到 {days} 天"
                        "（`certificates.renew_before_days`）的标 ⚠。`invoke certs` 把它与节点上的文件逐个比对。",
        "renew_due": "{n} 张证书将在 {days} 天内到期或已经过期：按证书续期一章续期。",
        "destructive": "不可撤销的操作",
        "destructive_flag": "`invoke deploy` 与 `invoke step` 只有加上 `--allow-destructive` 才执行这一步"
                            "（Notebook 里是参数 `allow_destructive=True`）。",
    },
    "en": {
        "site": "Highly available Kubernetes control plane runbooks",
        "expect": "You should see output like",
        "download": "Download", "notebook": "Run this chapter as a notebook",
        "workstation": "On the workstation", "per_node": "On each node", "chapters": "Chapters",
        "inventory": "Inventory", "ports": "Ports", "versions": "Versions", "topology": "Topology",
        "name": "Name", "roles": "Roles", "port": "Port", "purpose": "Purpose", "node": "Node",
        "clusters": "Clusters", "overview": "Overview", "item": "Item", "value": "Value",
        "last_run": "Last run", "no_run": "No run recorded yet (`invoke deploy --cluster {ref}` makes one).",
        "result": "Result", "when": "When", "steps": "Steps", "release": "Kubernetes release", "chapter": "Chapter",
        "status": "Status", "figures": "Measured", "figure": "Figure", "seconds": "s",
        "notebook_run": "Executed notebook",
        "masters": "Masters", "api_endpoint": "API endpoint", "lock": "Leader election lock",
        "workstation_box": "workstation", "no_lb": "no load balancer",
        "external_lb": "external load balancer",
        "filter_name": "Filter clusters by name", "all_releases": "All releases", "all_results": "All results",
        "none": "none", "passed": "passed", "failed": "failed", "skipped": "skipped", "not_run": "not run",
        "needs_bin": "This step needs the Kubernetes server binaries (`prerequisites.server_tarball`); while that "
                     "file is missing, `invoke deploy` reports the step as skipped, never as passed.",
        "invoke_tab": "With this tool", "by_hand_tab": "By hand (cfssl, kubectl)",
        "by_hand_note": "The equivalent commands without this tool: they make the same subject, SANs, usages and "
                        "kubeconfig structure (`tests/test_by_hand.py` proves it with the real cfssl and kubectl).",
        "notebook_howto": "The `cluster` parameter names the cluster; `dry_run=True` only prints the commands:",
        "home_intro": "Each cluster's runbook is compiled from one file, `clusters/<name>.yaml`: every command "
                      "on these pages is the very command `invoke deploy` and the notebooks run.",
        "run_of": "Run of the {cluster} cluster, {when}",
        "ledger": "Certificate ledger", "file": "File", "kind": "Kind", "subject": "Subject", "expires": "Expires",
        "days_left": "Days left", "signed_by": "Signed by", "where": "Where", "restart": "Restart on change",
        "kind_ca": "CA", "kind_ca-bundle": "CAs (rotating: old and new)",
        "kind_certificate": "certificate", "kind_kubeconfig": "certificate in a kubeconfig",
        "ledger_intro": "Every render rebuilds this table from `{file}`, soonest expiry first; ⚠ marks those with "
                        "less than {days} days left (`certificates.renew_before_days`). `invoke certs` compares it "
                        "with the files on the nodes, one by one.",
        "renew_due": "{n} certificate(s) expire within {days} days or have expired: renew them with the "
                     "certificate renewal chapter.",
        "destructive": "Cannot be undone",
        "destructive_flag": "`invoke deploy` and `invoke step` run this step only with `--allow-destructive` (in a "
                            "notebook, the parameter `allow_destructive=True`).",
    },
}
