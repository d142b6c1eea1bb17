from django.urls import path

from integrations.bank import apis as imports
from workbench.api import auth, customers, org

app_name = "api"

urlpatterns = [
    path("auth/token", auth.ObtainTokenApi.as_view(), name="token"),
    path("customers/", customers.CustomerListApi.as_view(), name="customer-list"),
    path("customers/<int:pk>/", customers.CustomerDetailApi.as_view(), name="customer-detail"),
    path("customers/<int:pk>/pii/", customers.CustomerPiiApi.as_view(), name="customer-pii"),
    path("branches/", org.BranchListApi.as_view(), name="branch-list"),
    path("operators/", org.OperatorListApi.as_view(), name="operator-list"),
    path("imports/", imports.ImportListApi.as_view(), name="import-list"),
    path("imports/<int:pk>/", imports.ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:pk>/errors", imports.ImportErrorsApi.as_view(), name="import-errors"),
]
