Feature: Ids in the path
  Path ids are percent-decoded exactly once. An id whose bytes are not UTF-8 names nothing, and is
  only looked at after authentication. An empty segment matches no route. Any non-empty segment is
  a product id, `products` and `movements` included.

  Background:
    Given the retail estate

  @api-1
  Scenario: A double-encoded location is an unknown location, not its decoded twin
    When I send GET /locations/Till%25201/products/x
    Then the response is 404 with body {"status":"LocationNotFound"}
    When I send POST /locations/Till%25201/products/x/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-1
  Scenario Outline: A double-encoded product is its own product, not its decoded twin: <raw>
    When I send POST /locations/Store-001/products/<raw>/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Store-001","productId":"<product>","quantitySold":1.0,"soldAt":"2024-12-07T12:00:00"}
    And the stock of "<twin>" at "Store-001" has never been updated

    Examples:
      | raw     | product | twin |
      | %2541   | %41     | A    |
      | a%252Fb | a%2Fb   | a/b  |

  @api-1 @auth-5
  Scenario Outline: A token scoped to a location is refused on its double-encoded name: <method> <path>
    Given I am a Warehouse Manager responsible for "Till 1"
    When I send <method> <path> with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 403 with body {"status":"PermissionDenied"}

    Examples:
      | method | path                                   |
      | POST   | /locations/Till%25201/products/x/sales |
      | POST   | /locations/Till%25201/deliveries       |
      | POST   | /locations/Till%25201/x/movements      |

  @api-1 @auth-5
  Scenario: A token scoped to a location may not read its double-encoded name
    Given I am a Warehouse Manager responsible for "Till 1"
    When I send GET /locations/Till%25201/products/x
    Then the response is 403 with body {"status":"PermissionDenied"}
    When I send GET /locations/Till%201/products/x
    Then the response status is 200

  @api-1 @auth-1
  Scenario: A location that is not UTF-8 is authenticated first, then names no location
    Given I send no Authorization header
    When I send GET /locations/%FF/products/x
    Then the response is 401 with body {"status":"Unauthorized"}

  @api-1
  Scenario: A location that is not UTF-8 names no location
    When I send GET /locations/%FF/products/x
    Then the response is 404 with body {"status":"LocationNotFound"}
    When I send POST /locations/%FF/products/x/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":3,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-1
  Scenario: A product that is not UTF-8 names nothing
    When I send GET /locations/WH01/products/%FE
    Then the response is 404 with an empty body

  @api-1
  Scenario Outline: An empty segment matches no route: <method> <path>
    When I send <method> <path> with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 404 with an empty body

    Examples:
      | method | path                                  |
      | POST   | /locations/Store-001/products//sales  |
      | POST   | /locations//deliveries                |
      | PUT    | /locations//deliveries                |
      | POST   | /locations/WH01//movements            |
      | POST   | /locations//products/p1/counts        |

  @api-1 @api-7
  Scenario: A product named products can be moved
    Given "WH01" received a delivery of 10 "products" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/products/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":4,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the stock of "products" at "WH01" is 6.0

  @api-1 @api-4
  Scenario: A product named movements can be read
    Given "WH01" received a delivery of 10 "movements" at "2024-12-07T08:00:00"
    When I send GET /locations/WH01/products/movements?includeChildren=false
    Then the response is 200 with body {"locationId":"WH01","productId":"movements","quantity":10.0,"lastUpdated":"2024-12-07T08:00:00"}
