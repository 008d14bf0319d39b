Feature: Which endpoints are protected

  Background:
    Given the retail estate

  @auth-1
  Scenario Outline: Every stock endpoint needs a bearer token: <request>
    Given I send no Authorization header
    When I <request> at "WH01"
    Then the response is 401 with body {"status":"Unauthorized"}

    Examples:
      | request           |
      | read the stock    |
      | record a sale     |
      | record a delivery |
      | move stock        |
      | count stock       |

  @auth-1 @api-10 @api-11
  Scenario Outline: Probes and metrics are public: <path>
    Given I send no Authorization header
    When I send GET <path>
    Then the response status is 200

    Examples:
      | path            |
      | /health/live    |
      | /health/ready   |
      | /health/started |
      | /metrics        |

  @auth-1
  Scenario: A rejected request has no side effects
    Given I am a Regional Stock Auditor
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":5}]}
      """
    Then the response is 403 with body {"status":"PermissionDenied"}
    And the stock of "p1" at "WH01" has never been updated
    Given I am a Warehouse Manager
    When I send the same request again
    Then the response status is 201
