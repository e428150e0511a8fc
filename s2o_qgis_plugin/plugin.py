"""QGIS glue: the Processing provider, the plugin menu, and the dependency check.

At load the plugin folder ``_deps`` (where the installer puts onnxruntime, rasterio and
scikit-image) goes first on sys.path. When a dependency still cannot be imported, the provider
is registered anyway: each algorithm says what it lacks before Run (canExecute: the toolbox
shows it instead of the dialog, the dialog's help starts with it), a message bar names the
algorithms that cannot run and offers to install the packages (the menu entry for that is
there only while something is missing), and pip's output goes to the Log Messages panel.
"""

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QPushButton

from . import deps
from .__about__ import __icon_path__, __title__
from .algorithms.translate import TranslateAlgorithm
from .provider import S2OProvider

TRANSLATE_ACTION = f"{TranslateAlgorithm.DISPLAY_NAME}…"
TRANSLATE_ALGORITHM = f"{S2OProvider.ID}:{TranslateAlgorithm.NAME}"
LOG_TAG = __title__  # the Log Messages panel's tab for pip's output


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def install_button_text(packages: list[str]) -> str:
    return f"Install (about {deps.download_mb(packages)} MB)"


class S2OPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.actions = []  # menu entries always there (Translate, also on the toolbar)
        self.install_action = None  # menu entry while a dependency is missing
        self.dialog = None
        self.message = None
        self.task = None
        deps.add_deps_to_path()

    # -- Processing (qgis_process calls only this) --------------------------------------------
    def initProcessing(self):  # noqa: N802 (QGIS API name)
        if self.provider is None:
            self.provider = S2OProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    # -- GUI ------------------------------------------------------------------------------------
    def initGui(self):  # noqa: N802
        self.initProcessing()
        translate = QAction(QIcon(str(__icon_path__)), TRANSLATE_ACTION, self.iface.mainWindow())
        translate.triggered.connect(self.open_translate_dialog)
        self.actions = [translate]
        self.iface.addPluginToMenu(__title__, translate)
        self.iface.addToolBarIcon(translate)
        self.check_dependencies()

    def unload(self):
        for action in self.actions:
            self.iface.removePluginMenu(__title__, action)
        if self.actions:
            self.iface.removeToolBarIcon(self.actions[0])
        self.actions = []
        self._remove_install_action()
        self._close_message()
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def open_translate_dialog(self):
        """The Processing dialog of s2o:translate, non-modal like the toolbox opens it. When it
        cannot run, its message bar says why and its Run button is disabled."""
        from processing import createAlgorithmDialog

        self.dialog = createAlgorithmDialog(TRANSLATE_ALGORITHM)
        ok, _ = self.dialog.algorithm().canExecute()
        if not ok:
            missing = deps.missing_for(*self.dialog.algorithm().REQUIRES)
            self.dialog.messageBar().pushMessage(
                "Cannot run yet", f"{_listing(missing)} missing: see the help.",
                Qgis.MessageLevel.Warning,
            )
            self.dialog.runButton().setEnabled(False)
        self.dialog.show()
        return self.dialog

    # -- dependencies ---------------------------------------------------------------------------
    def blocked_algorithms(self) -> list[str]:
        """Display names of the algorithms that cannot run, in the provider's order."""
        from .algorithms import algorithm_classes

        order = [cls.NAME for cls in algorithm_classes()]
        algs = sorted(self.provider.algorithms(), key=lambda a: order.index(a.name()))
        return [alg.displayName() for alg in algs if not alg.canExecute()[0]]

    def check_dependencies(self):
        """When packages are missing: a message bar naming them and the algorithms they stop,
        with an Install button, and the menu entry to install them. Returns the missing ones."""
        missing = deps.missing_packages()
        if not missing:
            self._remove_install_action()
            return []
        self._add_install_action()
        text = f"{_listing(missing)} missing: {_listing(self.blocked_algorithms())} cannot run yet."
        bar = self.iface.messageBar()
        widget = bar.createMessage(__title__, text)
        button = QPushButton(install_button_text(missing), widget)
        button.setToolTip(f"pip install {' '.join(missing)} into {deps.DEPS_DIR}; the same as: "
                          f"{' '.join(deps.install_command(missing))}")
        button.clicked.connect(self.install_dependencies)
        widget.layout().addWidget(button)
        self._close_message()
        self.message = bar.pushWidget(widget, Qgis.MessageLevel.Warning)
        return missing

    def _add_install_action(self):
        if self.install_action is None:
            self.install_action = QAction(deps.INSTALL_ACTION, self.iface.mainWindow())
            self.install_action.triggered.connect(self.install_dependencies)
            self.iface.addPluginToMenu(__title__, self.install_action)

    def _remove_install_action(self):
        if self.install_action is not None:
            self.iface.removePluginMenu(__title__, self.install_action)
            self.install_action = None

    def _close_message(self):
        if self.message is not None:
            self.iface.messageBar().popWidget(self.message)
            self.message = None

    def install_dependencies(self):
        """pip-install the missing packages into <plugin>/_deps in a background task (the
        same install as the command in the messages), pip's output to the message log."""
        bar = self.iface.messageBar()
        missing = deps.missing_packages()
        if not missing:
            bar.pushMessage(__title__, "all Python dependencies are installed.",
                            Qgis.MessageLevel.Info)
            return
        if self.task is not None:
            return
        self._close_message()
        bar.pushMessage(
            __title__,
            f"installing {_listing(missing)} into {deps.DEPS_DIR} (about "
            f"{deps.download_mb(missing)} MB to download); pip's output is in the Log Messages "
            f"panel, tab {LOG_TAG}.",
            Qgis.MessageLevel.Info,
        )

        def log(line):
            QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Info)

        def run(task):
            deps.install(missing, log=log)
            return missing

        def finished(exception, result=None):
            self.task = None
            if exception is None:
                bar.pushMessage(__title__, f"installed {_listing(result)}: every algorithm "
                                             "can run now.", Qgis.MessageLevel.Success)
                self.check_dependencies()
            else:
                QgsMessageLog.logMessage(str(exception), LOG_TAG, Qgis.MessageLevel.Critical)
                bar.pushMessage(
                    __title__,
                    f"installation failed: {str(exception).splitlines()[0]} (pip's output is in "
                    f"the Log Messages panel). Command: {' '.join(deps.install_command(missing))}",
                    Qgis.MessageLevel.Critical,
                )

        self.task = QgsTask.fromFunction(
            f"Installing {_listing(missing)}", run, on_finished=finished
        )
        QgsApplication.taskManager().addTask(self.task)
