Feature: What clients see while the Location API is down

  Background:
    Given the Location API serves the retail estate
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "1000"
    And the Location API is down

  @locations-8
  Scenario Outline: Every stock endpoint answers 502 after its retries: <request>
    When I <request> at "Store-001"
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}

    Examples:
      | request           |
      | read the stock    |
      | record a sale     |
      | record a delivery |
      | move stock        |
      | count stock       |

  @locations-8 @api-10
  Scenario: Readiness answers 503 with the locationApi check down
    When I send GET /health/ready
    Then the response is 503 with body {"status":"DOWN","checks":[{"name":"locationApi","status":"DOWN"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}

  @locations-8 @api-2
  Scenario: Nothing is written while the Location API is down
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    When I send POST /locations/Store-001/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"SKU1","quantity":9}]}
      """
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    When I send POST /locations/Store-001/products/SKU1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":4,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    When I send POST /locations/Store-001/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":0,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    When the Location API comes back
    Then the stock of "SKU1" at "Store-001" has never been updated
    And the stock of "SKU1" at "store3" has never been updated
    When I send GET /health/ready
    Then the response status is 200
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the stock of "SKU1" at "Store-001" is 0.0, pending -5.0, last updated "2024-12-07T12:00:00"
